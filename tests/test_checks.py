import pytest

from helpers.core import checks


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "http://localhost:1/", "http://[::1]:80/"])
def test_loopback_urls_pass(url):
    assert checks.loopback_url(url) == url


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "https://127.0.0.1/", "http://example.com/", None, 5])
def test_anything_else_is_refused(url):
    with pytest.raises(ValueError, match="on this machine"):
        checks.loopback_url(url)


def test_count():
    assert checks.count("workers", 3, 4) == 3
    with pytest.raises(TypeError):
        checks.count("workers", True)
    with pytest.raises(TypeError):
        checks.count("workers", 2.0)
    with pytest.raises(ValueError, match="from 1 to 4"):
        checks.count("workers", 5, 4)
    with pytest.raises(ValueError):
        checks.count("workers", 0)
