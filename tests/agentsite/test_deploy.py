"""Production settings: ``check --deploy`` is clean with the documented variables; logs are
structured on request and never carry message content at INFO."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from agentsite.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "agents.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://agents.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}
# Variables that would leak a developer's configuration into the checked process.
CONFIG_VARIABLES = {
    *PRODUCTION,
    "SILENCED_SYSTEM_CHECKS",
    "LOG_FORMAT",
}


def check_deploy(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
    env.update(extra, DJANGO_SETTINGS_MODULE="agentsite.settings")
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_documented_production_variables_pass_check_deploy():
    result = check_deploy(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_tls_at_the_proxy_passes_once_the_redirect_check_is_silenced():
    behind_proxy = {
        **PRODUCTION,
        "SECURE_SSL_REDIRECT": "false",
        "SILENCED_SYSTEM_CHECKS": "security.W008",
    }
    result = check_deploy(behind_proxy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_development_configuration_warns():
    result = check_deploy({"DEBUG": "true"})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for check in ("security.W004", "security.W008", "security.W009", "security.W018"):
        assert check in output


def test_json_formatter_writes_one_object_with_extra_fields():
    record = logging.LogRecord(
        "agentsite.runs.driver", logging.INFO, __file__, 1, "run %s", ("r1",), None
    )
    record.run_id = "r1"
    record.total_tokens = 12
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "run r1" and entry["level"] == "INFO"
    assert entry["logger"] == "agentsite.runs.driver"
    assert entry["run_id"] == "r1" and entry["total_tokens"] == 12


def test_log_format_json_configures_the_console_handler():
    code = (
        "import logging, django; django.setup(); "
        "logging.getLogger('agentsite.test').info('hello', extra={'run_id': 'x'})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agentsite.settings", "LOG_FORMAT": "json"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry == {**entry, "message": "hello", "run_id": "x", "logger": "agentsite.test"}


@pytest.mark.django_db(transaction=True)
def test_run_end_is_logged_at_info_without_message_content(caplog):
    secret = "my passport number is X1234567"
    with caplog.at_level(logging.INFO, logger="agentsite.runs.driver"):
        call_command("ask", "chat", secret, "--session", "logged", stdout=io.StringIO())
    records = [record for record in caplog.records if record.name == "agentsite.runs.driver"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    assert record.status == "completed" and record.agent == "chat"
    assert record.total_tokens > 0 and record.latency_ms >= 0
    assert len(record.run_id) == 36
    everything = record.getMessage() + json.dumps(vars(record), default=str)
    assert "X1234567" not in everything and "passport" not in everything
