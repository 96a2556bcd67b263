import pytest

from discovery.settings import SettingsError
from discovery.settings_reader import load_settings


def test_defaults_work_with_nothing_set():
    s = load_settings(environ={})
    assert s.database_url.startswith("sqlite:///")
    names = {p.name for p in s.providers}
    assert "modelsdev" in names and "openai" not in names  # no key, no live provider


def test_live_provider_enabled_when_its_key_is_in_the_environment():
    s = load_settings(environ={"OPENAI_API_KEY": "sk-test"})
    assert "openai" in {p.name for p in s.providers}


def test_toml_file_and_environment_overrides(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[service]\nport = 9000\n[providers.local]\nformat = "openai_compatible"\n'
                    'base_url = "http://127.0.0.1:1234/v1"\nrefresh_interval = 60\norganization = "x"\n')
    s = load_settings(path, environ={"DISCOVERY_PORT": "9100", "DISCOVERY_PROVIDER_LOCAL_REFRESH_INTERVAL": "5",
                                     "DATABASE_URL": "postgresql://localhost/test"})
    assert s.port == 9100 and s.database_url == "postgresql://localhost/test"
    (p,) = s.providers
    assert p.refresh_interval == 5.0 and p.options["organization"] == "x"


def test_a_key_the_format_does_not_take_is_refused_naming_the_keys_it_does(tmp_path):
    """A key that is neither common nor the format's own was kept as an option and ignored: a
    typo (timeuot) or another format's option left the setting silently unset."""
    path = tmp_path / "d.toml"
    for text, where in [('[providers.openai]\nformat = "openai"\ntimeuot = 5\n', "providers.openai.timeuot"),
                        ('[providers.g]\nformat = "groq"\n[providers.g.options]\npage_size = 5\n',
                         "providers.g.page_size")]:
        path.write_text(text)
        with pytest.raises(SettingsError) as err:
            load_settings(path, environ={})
        assert str(err.value).startswith(f"{where}: unknown setting for format ") and "timeout" in str(err.value)
    path.write_text('[providers.a]\nformat = "anthropic"\npage_size = 0\n')
    with pytest.raises(SettingsError, match="providers.a.page_size: expected a whole number, 1 or more"):
        load_settings(path, environ={})
    path.write_text('[providers.m]\nformat = "modelsdev"\nproviders = 5\n')
    with pytest.raises(SettingsError, match="providers.m.providers: expected a list of strings"):
        load_settings(path, environ={})


@pytest.mark.parametrize("key", ["client_secret", "secret_key", "session_token", "db_password", "my_api_key",
                                 "privateKey", "x-api-key", "credentials"])
def test_an_option_named_like_a_secret_is_refused_and_not_echoed(tmp_path, key):
    """Only api_key, token, secret and password were refused: client_secret and the like were taken
    as options, and ``config check`` printed them back."""
    path = tmp_path / "d.toml"
    for text in (f'[providers.openai]\nformat = "openai"\n"{key}" = "hunter2-SECRET"\n',
                 f'[providers.openai]\nformat = "openai"\n[providers.openai.options]\n"{key}" = "hunter2-SECRET"\n'):
        path.write_text(text)
        with pytest.raises(SettingsError) as err:
            load_settings(path, environ={})
        assert f"providers.openai.{key}: secrets are not read from the settings file" in str(err.value)
        assert "hunter2" not in str(err.value)


def test_format_options_come_from_the_environment_too(tmp_path):
    """DISCOVERY_PROVIDER_<NAME>_<KEY> set only the common keys; a format's own were ignored."""
    path = tmp_path / "d.toml"
    path.write_text('[providers.openai]\nformat = "openai"\norganization = "org-file"\n'
                    '[providers.az]\nformat = "azure"\nbase_url = "https://r.openai.azure.com"\n'
                    '[providers.m]\nformat = "modelsdev"\n')
    s = load_settings(path, environ={"DISCOVERY_PROVIDER_OPENAI_ORGANIZATION": "org-env",
                                     "DISCOVERY_PROVIDER_AZ_API_VERSION": "2025-01-01",
                                     "DISCOVERY_PROVIDER_M_PROVIDERS": "openai, anthropic",
                                     "DISCOVERY_PROVIDER_M_PROVIDER_NAMES": '{"vertex_ai": "google-vertex"}'})
    options = {p.name: p.options for p in s.providers}
    assert options == {"openai": {"organization": "org-env"}, "az": {"api_version": "2025-01-01"},
                       "m": {"providers": ["openai", "anthropic"], "provider_names": {"vertex_ai": "google-vertex"}}}
    auto = load_settings(None, environ={"AZURE_OPENAI_API_KEY": "k", "DISCOVERY_PROVIDER_AZURE_API_VERSION": "2025-01-01",
                                        "DISCOVERY_PROVIDER_AZURE_BASE_URL": "https://r.openai.azure.com"})
    assert next(p for p in auto.providers if p.name == "azure").options == {"api_version": "2025-01-01"}
    with pytest.raises(SettingsError, match="DISCOVERY_PROVIDER_M_PROVIDER_NAMES: expected a table of strings"):
        load_settings(path, environ={"DISCOVERY_PROVIDER_M_PROVIDER_NAMES": "nope"})


def test_a_switch_takes_true_or_false_not_a_number(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[providers.openai]\nformat = "openai"\nallow_empty = 3\n')
    with pytest.raises(SettingsError, match="providers.openai.allow_empty: expected bool, got 3"):
        load_settings(path, environ={})
    path.write_text('[service]\naccess_log = 2\n')
    with pytest.raises(SettingsError, match="service.access_log: expected bool, got 2"):
        load_settings(path, environ={})
    assert load_settings(None, environ={"DISCOVERY_ACCESS_LOG": "off"}).access_log is False


def test_secrets_in_the_settings_file_are_refused(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[providers.openai]\nformat = "openai"\napi_key = "sk-live-123"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(path, environ={})
    assert "api_key_env" in str(err.value) and "sk-live-123" not in str(err.value)


def test_bad_values_name_the_setting(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[service]\nport = "eighty"\n')
    with pytest.raises(SettingsError, match="service.port"):
        load_settings(path, environ={})


def test_http_limits_are_checked_and_tokens_come_only_from_the_environment(tmp_path):
    import pytest

    from discovery.settings import SettingsError
    from discovery.settings_reader import load_settings

    cfg = tmp_path / "s.toml"
    cfg.write_text("[service]\nmax_request_body = 10\n")
    with pytest.raises(SettingsError, match="max_request_body"):
        load_settings(cfg, environ={})
    cfg.write_text("[service]\nread_token = 'x'\n")
    with pytest.raises(SettingsError, match="DISCOVERY_READ_TOKEN"):
        load_settings(cfg, environ={})
    loaded = load_settings(None, environ={"DISCOVERY_READ_TOKEN": "r" * 20, "DISCOVERY_SSE_MAX_STREAMS": "7"})
    assert loaded.read_token == "r" * 20 and loaded.sse_max_streams == 7 and "r" * 20 not in repr(loaded)


def test_log_format_is_text_or_json(tmp_path):
    import pytest

    from discovery.settings import SettingsError
    from discovery.settings_reader import load_settings

    assert load_settings(environ={"DISCOVERY_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SettingsError, match="DISCOVERY_LOG_FORMAT"):
        load_settings(environ={"DISCOVERY_LOG_FORMAT": "xml"})


@pytest.mark.parametrize("line,named", [
    ("refresh_interval = 0", "providers.p.refresh_interval: must be more than 0.0"),
    ("refresh_interval = -inf", "providers.p.refresh_interval: expected float"),
    ("timeout = nan", "providers.p.timeout: expected float"),
    ("timeout = -1.0", "providers.p.timeout: must be more than 0.0"),
    ("jitter = 1.5", "providers.p.jitter: must be at least 0.0 and at most 1.0"),
    ("max_removal_ratio = 2", "providers.p.max_removal_ratio: must be at least 0.0 and at most 1.0"),
    ("fail_max = 0", "providers.p.fail_max: must be at least 1"),
    ("fail_max = 1.5", "providers.p.fail_max: expected int"),
    ("fail_max = 1e400", "providers.p.fail_max: expected int"),
    ("retries = true", "providers.p.retries: expected int"),
    ("rate_limit_rps = 0", "providers.p.rate_limit_rps: must be more than 0.0"),
    ("max_body_mb = inf", "providers.p.max_body_mb: expected float"),
])
def test_a_providers_numbers_are_checked_against_their_bounds(tmp_path, line, named):
    """A zero refresh interval would refresh without pause, a NaN or negative timeout would fail
    every request, and 1e400 escaped as an OverflowError: each is refused, naming the setting."""
    path = tmp_path / "d.toml"
    path.write_text(f'[providers.p]\nformat = "openai_compatible"\nbase_url = "http://127.0.0.1:9/v1"\n{line}\n')
    with pytest.raises(SettingsError) as err:
        load_settings(path, environ={})
    assert named in str(err.value)


@pytest.mark.parametrize("table,named", [
    ('[providers.x]\nformat = "nope"', "providers.x.format: unknown format 'nope'; known: anthropic,"),
    ('[providers.x]\nformat = "openai"\napi_key_env = 5', "providers.x.api_key_env: expected Optional[str], got 5"),
    ('[providers.x]\nformat = "openai"\nbase_url = "ftp://x"', "providers.x.base_url: must be an http:// or https://"),
    ('[providers.x]\nformat = "openai"\nbase_url = "http://u:Pw-4711-secret@/v1"', "got 'http://u:[REDACTED]@/v1'"),
    # A token alone as the user part is the credential requests sends.
    ('[providers.x]\nformat = "openai"\nbase_url = "htp://Pw-4711-token@h/v1"', "got 'htp://[REDACTED]@h/v1'"),
    ('[providers."a/b"]\nformat = "openai"', "providers.a/b: a provider's name is 1 to 64 letters"),
    ('[providers."../x"]\nformat = "openai"', "providers.../x: a provider's name is 1 to 64 letters"),
    # A map keyed by provider names (reconciliation's) under the name of a provider's own subtree
    # kept its epoch times: missing_since came out as a number for a provider named "raw".
    ('[providers.raw]\nformat = "openai"', "providers.raw: a provider may not be named 'raw'"),
    ('[providers.settings]\nformat = "openai"', "providers.settings: a provider may not be named 'settings'"),
    ('[service]\nenrichment_precedence = [1, 2]', "service.enrichment_precedence: expected tuple[str, ...]"),
    ('[service]\ndatabase_url = "bogus://x"', "service.database_url: must be a sqlite:/// or postgresql:// URL"),
    ('[service]\nhost = 127', "service.host: expected str, got 127"),
    ('[providers.x]\nformat = "openai"\nbase_url = "http://h.example:99999/v1"', "providers.x.base_url: must be"),
])
def test_settings_that_could_not_work_are_refused_naming_the_key(tmp_path, table, named):
    """Each was accepted, then failed at start (a provider's actor crashing on an unknown format,
    the store on an unknown scheme) or quietly became text ("5", "1")."""
    path = tmp_path / "d.toml"
    path.write_text(table + "\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, environ={})
    assert named in str(err.value) and "Pw-4711" not in str(err.value)


def test_every_sqlite_and_postgresql_url_peewee_reads_is_taken_and_the_variable_is_named():
    for url in ("sqlite:///d.db", "postgresql://h/db", "postgres://h/db", "postgresext://h/db",
                "postgresqlext://h/db", "postgresql+pool://h/db", "sqlite+pool:///d.db"):
        assert load_settings(None, environ={"DATABASE_URL": url}).database_url == url
    with pytest.raises(SettingsError, match="^DATABASE_URL: must be a sqlite:/// or postgresql:// URL"):
        load_settings(None, environ={"DATABASE_URL": "mysql://h/db"})


def test_a_refused_database_url_is_named_where_it_came_from(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[service]\ndatabase_url = "sqlite:///ok.db"\n')
    for environ, named in (({"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL"),
                           ({"DISCOVERY_DATABASE_URL": "mysql://h/db"}, "DISCOVERY_DATABASE_URL"),
                           ({"DATABASE_URL": "SQLITE:///x.db"}, "DATABASE_URL")):  # the store reads the scheme as written
        with pytest.raises(SettingsError) as err:
            load_settings(path, environ=environ)
        assert str(err.value).startswith(f"{named}: must be a sqlite:/// or postgresql:// URL"), err.value
    path.write_text('[service]\ndatabase_url = "mysql://h/db"\n')
    with pytest.raises(SettingsError, match="^service.database_url: must be"):
        load_settings(path, environ={})
    assert load_settings(path, environ={"DATABASE_URL": "sqlite:///ok.db"}).database_url == "sqlite:///ok.db"


def test_a_providers_numbers_from_the_environment_are_checked_too(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[providers.p]\nformat = "openai_compatible"\nbase_url = "http://127.0.0.1:9/v1"\n')
    with pytest.raises(SettingsError, match="DISCOVERY_PROVIDER_P_REFRESH_INTERVAL: must be more than 0.0"):
        load_settings(path, environ={"DISCOVERY_PROVIDER_P_REFRESH_INTERVAL": "0"})
    with pytest.raises(SettingsError, match="DISCOVERY_PROVIDER_P_TIMEOUT: expected float"):
        load_settings(path, environ={"DISCOVERY_PROVIDER_P_TIMEOUT": "nan"})
    loaded = load_settings(path, environ={"DISCOVERY_PROVIDER_P_REFRESH_INTERVAL": "0.5", "DISCOVERY_PROVIDER_P_FAIL_MAX": "2"})
    assert loaded.providers[0].refresh_interval == 0.5 and loaded.providers[0].fail_max == 2


@pytest.mark.parametrize("text,named", [
    ("[service]\nport = 99999\n", "service.port: must be at least 0 and at most 65535, got 99999"),
    ("[service]\nask_timeout = 0\n", "service.ask_timeout: must be more than 0.0"),
    ("[service]\nbatch_max_size = 0\n", "service.batch_max_size: must be at least 1"),
    ("[service]\nwebhook_workers = 0\n", "service.webhook_workers: must be at least 1"),
    ("[service]\nsse_heartbeat = -1.0\n", "service.sse_heartbeat: must be more than 0.0"),
    ("[service]\nswitch_interval = 5\n", "service.switch_interval: must be at least 0.0 and at most 1.0"),
    ("port = 8081\n", "port: not a section of the settings file"),
    ("colour = 'red'\n", "colour: not a section of the settings file"),
    ("service = 3\n", "service: expected a table"),
])
def test_the_services_numbers_and_the_files_sections_are_checked(tmp_path, text, named):
    """A port past 65535 reached the socket as a traceback, and a key written before any [section]
    was dropped without a word: each is refused, naming the key."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(path, environ={})
    assert named in str(err.value)
    if text.startswith("port"):
        assert "write it under [service]" in str(err.value)


def test_the_services_numbers_from_the_environment_name_the_variable():
    with pytest.raises(SettingsError, match="DISCOVERY_PORT: must be at least 0 and at most 65535"):
        load_settings(None, environ={"DISCOVERY_PORT": "70000"})
    assert load_settings(None, environ={"DISCOVERY_PORT": "0"}).port == 0


def test_a_zero_retention_or_lifecycle_interval_still_turns_its_timer_off(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[service]\nevent_retention_interval = 0\nlifecycle_check_interval = 0\n")
    loaded = load_settings(path, environ={})
    assert loaded.event_retention_interval == 0 and loaded.lifecycle_check_interval == 0


def test_unconfigured_names_why_a_stored_source_is_not_refreshed_any_more():
    from discovery.settings import BedrockSettings, ProviderConfig, Settings

    settings = Settings(providers=(ProviderConfig("openai", "openai"), ProviderConfig("groq", "groq", enabled=False)),
                        bedrock=BedrockSettings(enabled=True, regions=("us-east-1",)))
    assert settings.unconfigured("openai") is None and settings.unconfigured("bedrock@us-east-1") is None
    assert settings.unconfigured("mistral") == "source mistral is no longer configured"
    assert settings.unconfigured("groq") == "source groq is disabled in the settings (enabled = false)"
    assert settings.unconfigured("bedrock@eu-west-1") == (
        "source bedrock@eu-west-1 is no longer configured (region eu-west-1 is not watched)")
    # With discover_regions EC2 names the watched regions after start: until then none is unconfigured.
    discovering = Settings(bedrock=BedrockSettings(enabled=True, regions=("us-east-1",), discover_regions=True))
    assert discovering.unconfigured("bedrock@eu-west-1") is None
    assert discovering.unconfigured("bedrock@eu-west-1", ["us-east-1", "eu-west-1"]) is None
    assert discovering.unconfigured("bedrock@eu-west-1", ["us-east-1"]) is not None
    assert Settings().unconfigured("bedrock@us-east-1") == (
        "source bedrock@us-east-1 is no longer configured (Bedrock is off)")


def test_retire_unconfigured_is_a_service_boolean_the_environment_overrides(tmp_path):
    assert load_settings(environ={}).retire_unconfigured is True
    path = tmp_path / "d.toml"
    path.write_text("[service]\nretire_unconfigured = false\n")
    assert load_settings(path, environ={}).retire_unconfigured is False
    assert load_settings(path, environ={"DISCOVERY_RETIRE_UNCONFIGURED": "true"}).retire_unconfigured is True
    with pytest.raises(SettingsError, match="DISCOVERY_RETIRE_UNCONFIGURED: expected bool"):
        load_settings(environ={"DISCOVERY_RETIRE_UNCONFIGURED": "sometimes"})
    path.write_text('[service]\nretire_unconfigured = "no way"\n')
    with pytest.raises(SettingsError, match="service.retire_unconfigured"):
        load_settings(path, environ={})


def test_the_automatic_choice_names_the_providers_left_out_for_want_of_their_key():
    s = load_settings(environ={"OPENAI_API_KEY": "sk-test"})
    without = dict(s.providers_without_key)
    assert without["groq"] == "GROQ_API_KEY" and without["anthropic"] == "ANTHROPIC_API_KEY"
    assert "openai" not in without and "modelsdev" not in without and "openrouter" not in without  # chosen
    assert "ollama" not in without  # never chosen automatically, key or not
    assert s.keeps("groq", "source groq is no longer configured")[0] == "GROQ_API_KEY is not set"


def test_with_provider_tables_nothing_is_kept_for_want_of_a_key(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[providers.openai]\nformat = "openai"\n')
    s = load_settings(path, environ={})
    assert s.providers_without_key == ()
    assert s.keeps("groq", "source groq is no longer configured") is None


def test_a_provider_turned_off_in_the_environment_leaves_the_automatic_choice_for_the_others():
    s = load_settings(environ={"OPENAI_API_KEY": "sk-test", "DISCOVERY_PROVIDER_GROQ_ENABLED": "false",
                               "DISCOVERY_PROVIDER_LITELLM_ENABLED": "false",
                               "DISCOVERY_PROVIDER_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    by_name = {p.name: p for p in s.providers}
    assert not by_name["groq"].enabled and not by_name["litellm"].enabled  # disabled: their stored models leave
    assert by_name["openai"].enabled and by_name["openai"].base_url == "http://127.0.0.1:9/v1"
    assert by_name["modelsdev"].enabled
    assert "groq" not in dict(s.providers_without_key)
    assert s.keeps("groq", "source groq is disabled in the settings (enabled = false)") is None
    with pytest.raises(SettingsError, match="DISCOVERY_PROVIDER_OPENAI_TIMEOUT: must be more than 0"):
        load_settings(environ={"OPENAI_API_KEY": "sk-test", "DISCOVERY_PROVIDER_OPENAI_TIMEOUT": "0"})


def test_retire_unconfigured_false_keeps_every_source_but_one_turned_off():
    from discovery.settings import ProviderConfig, Settings

    s = Settings(retire_unconfigured=False, providers=(ProviderConfig("off", "openai", enabled=False),))
    why = s.unconfigured("gone")
    assert s.keeps("gone", why)[0] == "source gone is no longer configured, and retire_unconfigured is false"
    assert s.keeps("bedrock@eu-west-1", s.unconfigured("bedrock@eu-west-1")) is not None
    assert s.keeps("off", s.unconfigured("off")) is None
    assert Settings().keeps("gone", why) is None


def test_azure_needs_its_endpoint_and_is_left_out_by_its_key_alone(tmp_path):
    """Azure has no default endpoint: a table without base_url, or its key alone, started a
    provider that failed every refresh ("set base_url"), reported degraded."""
    path = tmp_path / "d.toml"
    path.write_text('[providers.az]\nformat = "azure"\n')
    with pytest.raises(SettingsError, match=r"^providers.az.base_url \(or DISCOVERY_PROVIDER_AZ_BASE_URL\): required"):
        load_settings(path, environ={})
    given = load_settings(path, environ={"DISCOVERY_PROVIDER_AZ_BASE_URL": "https://r.openai.azure.com"})
    assert [p.base_url for p in given.providers] == ["https://r.openai.azure.com"]
    alone = load_settings(None, environ={"AZURE_OPENAI_API_KEY": "k"})
    assert "azure" not in {p.name for p in alone.providers}
    assert ("azure", "DISCOVERY_PROVIDER_AZURE_BASE_URL") in alone.providers_without_key
    both = load_settings(None, environ={"AZURE_OPENAI_API_KEY": "k",
                                        "DISCOVERY_PROVIDER_AZURE_BASE_URL": "https://r.openai.azure.com"})
    assert "azure" in {p.name for p in both.providers}


def test_log_settings_are_checked_naming_where_they_came_from(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[service]\nlog_level = "LOUD"\n')
    with pytest.raises(SettingsError, match="^service.log_level: must be one of TRACE, DEBUG, INFO"):
        load_settings(path, environ={})
    with pytest.raises(SettingsError, match="^DISCOVERY_LOG_FORMAT: must be one of text, json, got 'xml'"):
        load_settings(None, environ={"DISCOVERY_LOG_FORMAT": "xml"})
    assert load_settings(None, environ={"DISCOVERY_LOG_LEVEL": "warn"}).log_level == "warn"
    path.write_text('[service]\nretiring_horizons = [-1]\n')
    with pytest.raises(SettingsError, match="list of whole numbers of days from 0 to 36500, got"):
        load_settings(path, environ={})


def test_no_format_option_names_a_secret_and_name_maps_are_not_read_as_secrets(tmp_path):
    """The environment's format options are taken without a secret check: none is named like one.
    A table of names (Azure's deployments) may hold a model id with such a word in it."""
    from discovery.providers import FORMATS
    from discovery.settings_reader import secret_like

    assert [(f, k) for f, cls in FORMATS.items() for k in cls.options if secret_like(k)] == []
    path = tmp_path / "d.toml"
    path.write_text('[providers.az]\nformat = "azure"\nbase_url = "https://r.openai.azure.com"\n'
                    '[providers.az.deployments]\n"tokenizer-secret-sauce-1" = "dep-1"\n')
    (az,) = load_settings(path, environ={}).providers
    assert az.options == {"deployments": {"tokenizer-secret-sauce-1": "dep-1"}}


@pytest.mark.parametrize("variable", ["DISCOVERY_ADMIN_TOKEN", "DISCOVERY_READ_TOKEN"])
def test_a_token_shorter_than_16_characters_is_refused(variable):
    """A 5-character admin token was taken: guessable, and shorter than the redaction layer masks,
    so it would have been written as it is wherever it was echoed."""
    with pytest.raises(SettingsError, match=f"{variable}: a token must be at least 16 characters long"):
        load_settings(None, environ={variable: "short"})
    assert getattr(load_settings(None, environ={variable: "x" * 16}), variable.split("_", 1)[1].lower()) == "x" * 16
