"""docker-compose.yml, checked without a Docker engine: the official compose schema, references
between services, health checks, scaling, and agreement with the services' settings classes."""

import copy
import json
import re
from importlib import resources
from urllib.parse import urlparse

import jsonschema
import pytest

from tests.ops import compose
from tests.ops.deployables import ALL, BY_NAME, EMULATOR, ROOT, SERVICES, setting_env_names

# Settings compose deliberately leaves to the service's default, with the reason.
NOT_IN_COMPOSE = {
    # Must differ between replicas of a scaled worker; the default derives it from the hostname.
    "WORKER_INSTANCE_ID": "unique per replica",
}
INFRA = {"rabbitmq", "redis", "postgres"}
# Run to completion before the services start (`service_completed_successfully`), no health check.
ONE_SHOT = {"migrate"}
TEST_SECRET = "a-test-secret-that-is-not-the-default"


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """A .env made from .env.example, with the secret it leaves for the operator to fill in."""
    return {**compose.env_example_values(), "SECRET_KEY": TEST_SECRET}


@pytest.fixture(scope="module")
def doc(env) -> dict:
    return compose.load(env)


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    # The compose-spec JSON schema as vendored by check-jsonschema.
    text = resources.files("check_jsonschema").joinpath("builtin_schemas/vendor/compose-spec.json").read_text()
    return json.loads(text)


def schema_errors(schema: dict, document: dict) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_matches_the_official_schema(compose_schema, doc):
    assert schema_errors(compose_schema, doc) == []


def test_schema_check_catches_mistakes(compose_schema, doc):
    broken = copy.deepcopy(doc)
    broken["services"]["chat"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["gateway"]["helthcheck"] = broken["services"]["gateway"].pop("healthcheck")
    errors = schema_errors(compose_schema, broken)
    assert any("service_ready" in e for e in errors)
    assert any("helthcheck" in e for e in errors)


def test_all_services_are_defined(doc):
    assert set(doc["services"]) == INFRA | ONE_SHOT | {d.name for d in ALL}
    assert doc["services"]["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert doc["services"]["redis"]["image"] == "redis:7-alpine"
    assert doc["services"]["postgres"]["image"] == "postgres:16-alpine"


@pytest.mark.parametrize("deployable", ALL, ids=[d.name for d in ALL])
def test_builds_use_the_repository_root_and_an_existing_dockerfile(doc, deployable):
    build = doc["services"][deployable.name]["build"]
    assert (ROOT / build["context"]).resolve() == ROOT
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == deployable.dockerfile_path
    assert {k: str(v) for k, v in build.get("args", {}).items()} == dict(deployable.build_args)


def test_depends_on_names_defined_services_with_health_checks(doc):
    services = doc["services"]
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use the long form with conditions"
        for dependency, options in depends_on.items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if dependency in ONE_SHOT:
                assert options["condition"] == "service_completed_successfully", f"{name} -> {dependency}"
                continue
            assert options["condition"] == "service_healthy", f"{name} -> {dependency}"
            assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health check"


def test_every_service_has_a_health_check(doc):
    for name, service in doc["services"].items():
        if name in ONE_SHOT:
            assert service["healthcheck"] == {"disable": True} and service["restart"] == "no", name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    assert doc["services"]["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]


@pytest.mark.parametrize("deployable", ALL, ids=[d.name for d in ALL])
def test_app_health_checks_use_python_against_the_probe_path(doc, deployable):
    test = doc["services"][deployable.name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "slim images have no curl"
    assert f"urlopen('http://127.0.0.1:{deployable.port}{deployable.probe}'" in test[3]


def test_app_services_wait_for_what_they_use(doc):
    services = doc["services"]
    for deployable in SERVICES:
        needs = set(services[deployable.name].get("depends_on", {}))
        assert "rabbitmq" in needs, deployable.name
        if deployable.database_env:
            assert "postgres" in needs, deployable.name
    assert {"redis", "chat", "billing"} <= set(services["gateway"]["depends_on"])
    assert "redis" in services["billing"]["depends_on"]


def test_llm_worker_can_be_scaled(doc):
    worker = doc["services"]["llm-worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "fixed host ports would clash between replicas"


def test_llm_worker_stops_gracefully_after_its_replies(doc, env):
    worker = doc["services"]["llm-worker"]
    grace = compose.parse_duration(worker["stop_grace_period"])
    settings = BY_NAME["llm-worker"].settings_class()
    seen = compose.container_environment(worker, env)
    drain = float(seen.get("WORKER_GRACEFUL_TIMEOUT_SECONDS",
                           settings.model_fields["graceful_timeout_seconds"].default))
    assert drain >= 120, "a reply may stream for minutes"
    assert grace > drain, "compose must not kill the worker before it has drained"


def test_emulator_is_an_optional_profile_and_the_default_provider(doc, env):
    emulator = doc["services"]["emulator"]
    assert emulator["profiles"] == ["emulator"]
    assert doc["services"]["sms-emulator"]["profiles"] == ["emulator"]
    assert doc["services"]["telegram-emulator"]["profiles"] == ["emulator"]
    for name, service in doc["services"].items():
        if name not in ("emulator", "sms-emulator", "telegram-emulator"):
            assert "profiles" not in service, f"{name} must start without a profile"
    dependency = doc["services"]["llm-worker"]["depends_on"]["emulator"]
    assert dependency["required"] is False, "the worker must start without the emulator profile"
    without_key = {k: v for k, v in env.items() if k not in ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL")}
    worker_env = compose.service_environment(compose.load(without_key)["services"]["llm-worker"])
    assert worker_env["OPENROUTER_BASE_URL"] == f"http://emulator:{EMULATOR.port}/api/v1"
    assert worker_env["OPENROUTER_API_KEY"] is None, "the key is passed through, never written in the file"
    assert "emulator" in compose.env_example_values().get("COMPOSE_PROFILES", "").split(",")


def test_compose_refuses_to_start_without_a_secret_key(env):
    without_secret = {k: v for k, v in env.items() if k != "SECRET_KEY"}
    with pytest.raises(compose.MissingVariable, match="SECRET_KEY"):
        compose.load(without_secret)
    with pytest.raises(compose.MissingVariable):
        compose.load({**without_secret, "SECRET_KEY": ""})


def test_every_interpolated_variable_is_listed_in_env_example():
    used: set[str] = set()
    compose.interpolate_tree(compose.load_raw(), {"SECRET_KEY": TEST_SECRET}, used)
    listed = {name for name, _, _ in compose.env_example_entries()}
    assert used, "the interpolation scan found nothing"
    assert sorted(used - listed) == []


def test_every_pass_through_variable_is_listed_in_env_example(doc):
    listed = {name for name, _, _ in compose.env_example_entries()}
    for name, service in doc["services"].items():
        passed = {var for var, value in compose.service_environment(service).items() if value is None}
        assert sorted(passed - listed) == [], name


@pytest.mark.parametrize("deployable", ALL, ids=[d.name for d in ALL])
def test_compose_provides_every_setting_the_service_reads(doc, deployable):
    environment = set(compose.service_environment(doc["services"][deployable.name]))
    missing = [
        names[0] for names in setting_env_names(deployable.settings_class()).values()
        if not set(names) & environment and names[0] not in NOT_IN_COMPOSE
    ]
    missing += [name for name, _ in deployable.extra_env if name not in environment]
    assert missing == [], f"add these to {deployable.name}'s environment (pass-through `NAME:` is enough)"


@pytest.mark.parametrize("deployable", ALL, ids=[d.name for d in ALL])
def test_compose_sets_only_settings_the_service_reads(doc, deployable):
    environment = set(compose.service_environment(doc["services"][deployable.name]))
    assert sorted(environment - deployable.env_names_read()) == [], "a typo, or a setting the service no longer has"
    assert not set(NOT_IN_COMPOSE) & environment


@pytest.mark.parametrize("deployable", ALL, ids=[d.name for d in ALL])
def test_container_settings_validate_and_listen_on_all_interfaces(doc, env, deployable, monkeypatch):
    seen = compose.container_environment(doc["services"][deployable.name], env)
    assert seen[deployable.host_env] == "0.0.0.0"
    assert seen[deployable.port_env] == str(deployable.port)
    for name, value in seen.items():
        monkeypatch.setenv(name, value)
    settings = deployable.settings_class()()  # raises if compose hands it a value it cannot parse
    if hasattr(settings, "check_production_safety"):
        settings.check_production_safety()


@pytest.mark.parametrize("deployable", [d for d in SERVICES if d.database_env], ids=lambda d: d.name)
def test_databases_are_postgres_ones_the_init_script_creates(doc, env, deployable):
    created = set(re.findall(r"CREATE DATABASE (\w+);", (ROOT / "deploy/postgres/init-databases.sql").read_text()))
    assert created == {"gateway", "chat", "billing"}
    url = urlparse(compose.container_environment(doc["services"][deployable.name], env)[deployable.database_env])
    assert url.scheme == "postgresql+asyncpg"
    assert url.hostname == "postgres"
    assert url.path.lstrip("/") == deployable.name
    mounts = doc["services"]["postgres"]["volumes"]
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in mounts


def test_media_volume_is_shared_by_gateway_and_workers(doc, env):
    for name in ("gateway", "llm-worker"):
        service = doc["services"][name]
        media_root = compose.container_environment(service, env)["MEDIA_ROOT"]
        assert f"media:{media_root}" in service["volumes"], name
    assert "media" in doc["volumes"]


def test_interpolation_follows_the_compose_rules():
    env = {"SET": "x", "EMPTY": ""}
    assert compose.interpolate("${SET:-d}/${EMPTY:-d}/${UNSET:-d}", env) == "x/d/d"
    assert compose.interpolate("${EMPTY-d}/${UNSET-d}", env) == "/d"
    assert compose.interpolate("${SET:+alt}/${EMPTY:+alt}/${EMPTY+alt}", env) == "alt//alt"
    assert compose.interpolate("$$HOME and $SET", env) == "$HOME and x"
    with pytest.raises(compose.MissingVariable):
        compose.interpolate("${EMPTY:?need it}", env)
    assert compose.interpolate("${EMPTY?need it}", env) == ""
    with pytest.raises(ValueError, match="nested"):
        compose.interpolate("${A:-${B}}", {"A": "a"})


def test_reservations_outlive_the_longest_reply(doc, env):
    """Billing releases a reservation after RESERVATION_TTL_SECONDS; a reply may stream until the
    worker's OPENROUTER_REPLY_TIMEOUT_SECONDS, and its budget must stay held that long."""

    def effective(deployable_name: str, field: str) -> float:
        deployable = BY_NAME[deployable_name]
        names = setting_env_names(deployable.settings_class())[field]
        seen = compose.container_environment(doc["services"][deployable_name], env)
        value = next((seen[name] for name in names if name in seen), None)
        return float(value if value is not None else deployable.settings_class().model_fields[field].default)

    assert effective("billing", "reservation_ttl_seconds") > effective("llm-worker", "reply_timeout_seconds")


def test_migrations_run_once_before_the_services_that_own_a_database(doc, env):
    migrate = doc["services"]["migrate"]
    assert migrate["command"] == ["python", "-m", "shared.migrate"]
    seen = compose.container_environment(migrate, env)
    for deployable in SERVICES:
        service = doc["services"][deployable.name]
        if not deployable.database_env:
            assert "migrate" not in service.get("depends_on", {}), deployable.name
            continue
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        own = compose.container_environment(service, env)
        assert seen[deployable.database_env] == own[deployable.database_env], "the database it migrates"
        # Production containers leave the migrations to the one-shot service.
        assert own["ENVIRONMENT"] == "production" and not own.get("MIGRATE_ON_START")
        assert deployable.settings_class()(**{deployable.database_env: own[deployable.database_env],
                                              "ENVIRONMENT": "production"}).migrates_on_start() is False

