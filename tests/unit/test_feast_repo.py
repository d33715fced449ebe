"""The Feast settings of a configuration are what Feast itself reads from the profile's file
with RANKCT_HOME at the configuration's home, and reading them changes no environment variable."""

from __future__ import annotations

import os

import pytest
import yaml
from rankct.config import load_config
from rankct.online.feast_repo import store_settings, store_yaml


@pytest.mark.parametrize("profile", ["local", "prod"])
def test_settings_expand_the_file_for_the_configuration_home(profile, tmp_path, monkeypatch):
    monkeypatch.setenv("RANKCT_HOME", str(tmp_path / "another_home"))
    monkeypatch.setenv("RANKCT_REDIS", "redis.example:6379")
    cfg = load_config("local", environ={"RANKCT_HOME": str(tmp_path / "home")})
    cfg.profile = profile
    before = dict(os.environ)
    settings = store_settings(cfg)
    assert dict(os.environ) == before
    assert settings["registry"] == f"{cfg.home}/feast/registry.db"
    # Feast's own loader expands the file from os.environ (os.path.expandvars).
    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    assert settings == yaml.safe_load(os.path.expandvars(store_yaml(cfg).read_text()))
