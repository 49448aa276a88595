"""Helpers the tests share (no tests here): tests/conftest.py puts tests/ on sys.path, so a test
imports them as `from helpers.statecmp import assert_bitwise_equal`."""
