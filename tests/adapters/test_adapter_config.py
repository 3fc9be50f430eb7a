"""The deployment configuration: TOML + environment, secret references, building adapters."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from leadflow.adapters import (
    AdapterConfigError,
    DeploymentConfig,
    Secret,
    load_config,
    register,
    resolve_secret,
)
from leadflow.adapters._registry import _unregister
from leadflow.adapters.jsonl import JsonlAdapter
from leadflow.adapters.webhook import WebhookAdapter

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXAMPLE = """
[adapters.crm_webhook]
type = "webhook"
url = "https://example.com/hooks/leadflow"
secret = "env:LEADFLOW_WEBHOOK_SECRET"
previous_secret = "env:LEADFLOW_WEBHOOK_SECRET_OLD"
timeout = 10

[adapters.archive]
type = "jsonl"
path = "{path}"

[dispatch]
concurrency = 8

[inbound.hubspot]
kind = "hubspot"
secret = "env:HUBSPOT_CLIENT_SECRET"
"""
ENV = {"LEADFLOW_WEBHOOK_SECRET": SECRET, "LEADFLOW_WEBHOOK_SECRET_OLD": SECRET}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leadflow.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(tmp_path, EXAMPLE.format(path=tmp_path / "out" / "events.jsonl"))


def test_example_file_loads(config_file: Path) -> None:
    """The documented example loads: adapters by name, dispatch and inbound passed through."""
    config = load_config(config_file, env=ENV)
    assert config.adapters["crm_webhook"]["type"] == "webhook"
    assert config.adapters["crm_webhook"]["timeout"] == 10
    assert config.adapters["archive"]["type"] == "jsonl"
    assert config.dispatch == {"concurrency": 8}
    assert config.inbound["hubspot"]["kind"] == "hubspot"
    assert config.source == str(config_file)


def test_build_adapters_uses_the_registry(config_file: Path) -> None:
    """build_adapters returns configured instances by name, secrets resolved from the env."""
    adapters = load_config(config_file, env=ENV).build_adapters()
    try:
        assert isinstance(adapters["crm_webhook"], WebhookAdapter)
        assert isinstance(adapters["archive"], JsonlAdapter)
        assert adapters["crm_webhook"].name == "crm_webhook"
        assert SECRET not in repr(adapters["crm_webhook"])
    finally:
        for adapter in adapters.values():
            adapter.close()


def test_environment_overrides_and_adds_keys(config_file: Path) -> None:
    """LEADFLOW_ADAPTER_<NAME>_<KEY> overrides a key (as a TOML value) or adds one."""
    env = {
        **ENV,
        "LEADFLOW_ADAPTER_CRM_WEBHOOK_TIMEOUT": "3.5",
        "LEADFLOW_ADAPTER_CRM_WEBHOOK_URL": "https://other.example.com/in",
        "LEADFLOW_ADAPTER_ARCHIVE_PATH": "/tmp/x.jsonl",
    }
    config = load_config(config_file, env=env)
    assert config.adapters["crm_webhook"]["timeout"] == 3.5
    assert config.adapters["crm_webhook"]["url"] == "https://other.example.com/in"
    assert config.adapters["archive"]["path"] == "/tmp/x.jsonl"


def test_environment_alone_can_declare_an_adapter() -> None:
    """A ``_TYPE`` variable adds an adapter; no file is needed."""
    env = {
        "LEADFLOW_ADAPTER_EVENTS_LOG_TYPE": "jsonl",
        "LEADFLOW_ADAPTER_EVENTS_LOG_PATH": "/tmp/e.jsonl",
    }
    config = load_config(None, env=env)
    assert config.adapters == {"events_log": {"type": "jsonl", "path": "/tmp/e.jsonl"}}
    assert config.source == "<environment>"


def test_leadflow_config_names_the_file(config_file: Path) -> None:
    """With no path, LEADFLOW_CONFIG names the file to read."""
    config = load_config(None, env={**ENV, "LEADFLOW_CONFIG": str(config_file)})
    assert set(config.adapters) == {"crm_webhook", "archive"}


def test_environment_variable_for_an_unknown_adapter_is_refused() -> None:
    """A variable naming no configured adapter is an error naming the variable."""
    with pytest.raises(AdapterConfigError) as info:
        load_config(None, env={"LEADFLOW_ADAPTER_NOPE_URL": "https://x"})
    assert "LEADFLOW_ADAPTER_NOPE_URL" in str(info.value)
    assert "LEADFLOW_ADAPTER_<NAME>_TYPE" in str(info.value)


def test_literal_secret_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A literal secret is refused naming the file, table and key, never the value."""
    path = write(tmp_path, '[adapters.hs]\ntype = "hubspot"\ntoken = "pat-na1-supersecretvalue"\n')
    with pytest.raises(AdapterConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert "[adapters.hs] key 'token'" in message
    assert "write env:NAME or file:PATH; secrets are never stored in configuration" in message
    assert "supersecretvalue" not in message


def test_literal_secret_in_an_inbound_table_is_refused(tmp_path: Path) -> None:
    """Nested tables are checked too: an inbound source's password must be a reference."""
    path = write(tmp_path, '[inbound.pd]\nkind = "pipedrive"\npassword = "hunter2hunter2"\n')
    with pytest.raises(AdapterConfigError) as info:
        load_config(path, env={})
    assert "[inbound.pd] key 'password'" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_literal_secret_in_the_environment_is_refused(config_file: Path) -> None:
    """An environment override of a secret key must also be a reference."""
    env = {**ENV, "LEADFLOW_ADAPTER_CRM_WEBHOOK_SECRET": "whsec_literalliteral"}
    with pytest.raises(AdapterConfigError) as info:
        load_config(config_file, env=env)
    assert "LEADFLOW_ADAPTER_CRM_WEBHOOK_SECRET" in str(info.value)
    assert "literalliteral" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[adaptors.x]\ntype = 'jsonl'\n", "unknown table [adaptors] (did you mean 'adapters'?)"),
        ("[adapters.x]\npath = 'a'\n", "[adapters.x] needs type ="),
        ("[adapters.Bad-Name]\ntype = 'jsonl'\n", "adapter names are lowercase"),
        ("[adapters]\nx = 1\n", "adapters.x must be a table"),
        ("dispatch = 3\n", "'dispatch' must be a table"),
        ("[adapters.x\n", "invalid TOML"),
    ],
)
def test_malformed_files_are_refused_naming_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Each mistake is an AdapterConfigError naming the file and what is wrong."""
    path = write(tmp_path, text)
    with pytest.raises(AdapterConfigError) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A configuration path that does not exist is an error naming it."""
    with pytest.raises(AdapterConfigError, match=r"missing\.toml: deployment configuration file"):
        load_config(tmp_path / "missing.toml", env={})


def test_resolve_secret_reads_the_environment() -> None:
    """``env:NAME`` reads the variable from the given environment."""
    assert resolve_secret("env:TOKEN", {"TOKEN": "abc"}) == "abc"


def test_resolve_secret_reads_a_file_without_its_newline(tmp_path: Path) -> None:
    """``file:PATH`` reads the file and strips the trailing newline."""
    (tmp_path / "token").write_text("s3cr3t\n")
    assert resolve_secret(f"file:{tmp_path / 'token'}") == "s3cr3t"


@pytest.mark.parametrize(
    ("reference", "env", "expected"),
    [
        ("env:MISSING", {}, "environment variable MISSING is not set"),
        ("env:EMPTY", {"EMPTY": ""}, "the value is empty"),
        ("env:1BAD", {}, "is not allowed"),
        ("vault:x", {}, "is not allowed"),
        ("file:/nonexistent/leadflow/secret", {}, "cannot read"),
    ],
)
def test_unresolvable_references_name_the_reference(
    reference: str, env: Mapping[str, str], expected: str
) -> None:
    """A reference that cannot be resolved raises AdapterConfigError saying why."""
    with pytest.raises(AdapterConfigError, match=expected):
        resolve_secret(reference, env)


def test_a_literal_given_as_reference_is_not_echoed() -> None:
    """Passing a secret value where a reference belongs never shows the value."""
    with pytest.raises(AdapterConfigError) as info:
        resolve_secret("pat-na1-0123456789")
    assert "0123456789" not in str(info.value)


def test_secret_never_shows_its_value() -> None:
    """repr, str and format of a Secret show the reference at most; pickling is refused."""
    secret = Secret("topsecretvalue", "env:X")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>20}"]
    assert all("topsecretvalue" not in s for s in shown)
    assert repr(secret) == "Secret('env:X')"
    assert secret.reveal() == "topsecretvalue"
    assert secret == Secret("topsecretvalue", "env:Y")
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        hash(secret)


class _Closing:
    closed: list[str] = []

    def __init__(self, name: str) -> None:
        self.name = name
        self.max_batch = 1

    def deliver(self, deliveries: Any) -> list[Any]:
        return []

    def close(self) -> None:
        _Closing.closed.append(self.name)


def _good(name: str, options: Mapping[str, Any], resolve: Any) -> _Closing:
    return _Closing(name)


def _bad(name: str, options: Mapping[str, Any], resolve: Any) -> _Closing:
    resolve(options["token"])
    raise AssertionError("unreachable: the token reference is unset")


def test_failed_build_names_the_adapter_and_closes_the_built_ones(tmp_path: Path) -> None:
    """An adapter whose factory fails is named with the file; earlier ones get closed."""
    register("test-good", _good)
    register("test-bad", _bad)
    try:
        path = write(
            tmp_path,
            '[adapters.first]\ntype = "test-good"\n'
            '[adapters.second]\ntype = "test-bad"\ntoken = "env:UNSET_TOKEN"\n',
        )
        _Closing.closed.clear()
        with pytest.raises(AdapterConfigError) as info:
            load_config(path, env={}).build_adapters()
        assert f"{path}: [adapters.second]:" in str(info.value)
        assert "UNSET_TOKEN is not set" in str(info.value)
        assert _Closing.closed == ["first"]
    finally:
        _unregister("test-good")
        _unregister("test-bad")


def test_unknown_type_at_build_names_the_table(tmp_path: Path) -> None:
    """An unknown adapter type fails at build naming the table and the available types."""
    path = write(tmp_path, '[adapters.x]\ntype = "jsnol"\n')
    with pytest.raises(AdapterConfigError) as info:
        load_config(path, env={}).build_adapters()
    assert "[adapters.x]" in str(info.value)
    assert "did you mean 'jsonl'?" in str(info.value)


def test_factory_option_errors_name_the_table(tmp_path: Path) -> None:
    """Option mistakes inside a factory come back prefixed with the file and the table."""
    path = write(tmp_path, '[adapters.x]\ntype = "webhook"\nurl = "ftp://x"\nsecret = "env:S"\n')
    with pytest.raises(AdapterConfigError) as info:
        load_config(path, env={"S": SECRET}).build_adapters()
    assert f"{path}: [adapters.x]: key 'url' is not a usable URL" in str(info.value)


def test_build_of_an_unconfigured_name_is_refused() -> None:
    """Asking for an adapter the configuration lacks is an error listing the configured ones."""
    config = DeploymentConfig(adapters={"archive": {"type": "jsonl", "path": "x"}})
    with pytest.raises(AdapterConfigError, match="no adapter named 'archiv'"):
        config.build_adapters(["archiv"])
