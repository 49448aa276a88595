"""E-LatentLPIPS (sLCT Table 2c) through the optional `elatentlpips` package: the adapter builds the
latent VGG16-BN network, loads weights from the asset cache with weights_only=True, and the row
trains. Skipped where the opt-in extra is not installed (`pip install -e '.[elpips]'`; CI does)."""
import pytest
import torch

pytest.importorskip("elatentlpips")

from repro.cli import main  # noqa: E402
from repro.core.distances import e_latent_lpips  # noqa: E402
from repro.data.assets import asset_path  # noqa: E402
from repro.io import ReproError, atomic_torch_save  # noqa: E402
from repro.nn.latent_lpips import build_latent_lpips  # noqa: E402
from repro.train.build import load_latent_lpips  # noqa: E402


@pytest.fixture
def planted_weights(isolated):
    """A randomly initialised network's state dict, planted where `repro fetch` puts the real one."""
    torch.manual_seed(0)
    src = build_latent_lpips()
    atomic_torch_save(asset_path("elatentlpips-sd15"), src.state_dict())
    return src


def test_distance_is_per_sample_and_differentiable():
    net = build_latent_lpips()
    x = torch.randn(3, 4, 32, 32, requires_grad=True)
    y = torch.randn(3, 4, 32, 32)
    d = e_latent_lpips(x, y, model=net)
    assert d.shape == (3,) and torch.all(d > 0)
    assert torch.allclose(e_latent_lpips(y, y, model=net), torch.zeros(3), atol=1e-6)
    d.sum().backward()
    assert x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())   # frozen: never trained


def test_weights_come_from_the_cache(planted_weights):
    net = load_latent_lpips()
    x, y = torch.randn(2, 4, 32, 32), torch.randn(2, 4, 32, 32)
    assert torch.equal(e_latent_lpips(x, y, model=net), e_latent_lpips(x, y, model=planted_weights))


def test_missing_weights_name_the_file_and_the_command(isolated):
    with pytest.raises(ReproError, match=r"sd15_latest_vgg16_tuned\.pth: missing from the asset cache.*"
                                         r"repro fetch --only elatentlpips-sd15"):
        load_latent_lpips()


@pytest.mark.slow
def test_the_table2c_row_trains(planted_weights, capsys):
    assert main(["train", "slct/t2c/e_latentlpips", "--smoke"]) == 0
