import math

import pytest

from repro.core import adaptive_c, discretization_steps, ict_c


def test_slct_celeba_stages():
    # CelebA-HQ: K = (27000 // 128)·1400 = 210·1400 = 294000, s1/s0 = 64 -> log2 = 6 -> K' = 294000 // 7 = 42000.
    K, Kp = 294_000, 42_000
    stages = [11, 21, 41, 81, 161, 321, 641]
    for s, n in enumerate(stages):
        assert discretization_steps(s * Kp, K, 10, 640) == n
        assert discretization_steps(s * Kp + Kp - 1, K, 10, 640) == n
    assert discretization_steps(K - 1, K, 10, 640) == 641
    assert discretization_steps(10 * K, K, 10, 640) == 641


def test_ict_eight_stages():
    # s1/s0 = 128 -> log2 = 7 -> K' = K // 8.
    K = 400_000
    Kp = K // 8
    got = [discretization_steps(s * Kp, K, 10, 1280) for s in range(8)]
    assert got == [11, 21, 41, 81, 161, 321, 641, 1281]
    assert discretization_steps(Kp - 1, K, 10, 1280) == 11
    assert discretization_steps(K - 1, K, 10, 1280) == 1281


def test_non_power_of_two_ratio_and_tiny_k():
    # floor(1000/10) = 100 -> floor(log2 100) = 6 -> K' = 700 // 7 = 100: stage 6 (10·64+1)
    # fills the last K'; only past K does min(10·128, 1000) cap at s1.
    assert discretization_steps(599, 700, 10, 1000) == 321
    assert discretization_steps(699, 700, 10, 1000) == 641
    assert discretization_steps(700, 700, 10, 1000) == 1001
    assert discretization_steps(0, 3, 10, 1280) == 11  # K' guarded to 1
    assert discretization_steps(2, 3, 10, 1280) == 41


def test_ict_c_values():
    assert math.isclose(ict_c(4096), 0.03456, rel_tol=1e-12)
    assert abs(ict_c(3072) - 0.0299) < 5e-5
    assert abs(ict_c(12288) - 0.0599) < 5e-5


# c(N) per stage as (paper sLCT eq. 11, LCT code form), rounded to 5 decimals.
SPEC_C = {11: (0.03216, 0.03456), 21: (0.01419, 0.01364), 41: (0.00626, 0.00614), 81: (0.00276, 0.00277),
          161: (0.00122, 0.00125), 321: (0.00054, 0.00056), 641: (0.00024, 0.00025)}


@pytest.mark.parametrize("n", sorted(SPEC_C))
def test_adaptive_c_spec_table(n):
    paper, code = SPEC_C[n]
    assert abs(adaptive_c(n, "paper") - paper) <= 5e-6 + 1e-12
    assert abs(adaptive_c(n, "code") - code) <= 5e-6 + 1e-12


def test_adaptive_c_code_matches_resume_scripts():
    assert abs(adaptive_c(41, "code") - 0.00614442) < 5e-9
    assert abs(adaptive_c(81, "code") - 0.00276883) < 5e-9
    assert adaptive_c(11, "code", dim=3072) == ict_c(3072)
    with pytest.raises(ValueError):
        adaptive_c(11, "bogus")
