"""`python -m devinfra run [process ...]`: find or start the servers, then run the system.

`python -m devinfra ensure`: find or start the servers and print their URLs as env lines.
"""

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from devinfra import stripe_local
from devinfra.servers import describe, ensure_rabbitmq, ensure_redis, say

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("gateway", "chat", "billing", "llm-worker", "telegram-bot")


def _servers() -> list:
    return [
        ensure_rabbitmq(os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/")),
        ensure_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")),
    ]


def run(selected: list[str]) -> int:
    servers = _servers()
    describe(servers)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "RABBIT_URL": servers[0].url,
        "REDIS_URL": servers[1].url,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    processes = list(selected or PROCESSES)
    if not selected and not env.get("OPENROUTER_API_KEY"):
        say("no OPENROUTER_API_KEY: replies come from the bundled OpenRouter emulator")
        processes.append("emulator")
    if not selected and not env.get("SMS_API_KEY"):
        # The gateway talks to the emulator through the same Kavenegar provider as in production.
        sms_url = f"http://127.0.0.1:{env.setdefault('SMS_EMULATOR_PORT', '8091')}"
        env.update(SMS_PROVIDER="kavenegar", SMS_BASE_URL=sms_url, SMS_API_KEY="emulator")
        say(f"no SMS_API_KEY: login codes go to the bundled SMS emulator; read them at {sms_url}/messages?phone=")
        processes.append("sms-emulator")
    if not selected and not env.get("ZIBAL_MERCHANT"):
        port = env.setdefault("ZIBAL_EMULATOR_PORT", "8092")
        env["ZIBAL_BASE_URL"] = f"http://127.0.0.1:{port}"
        say(f"no ZIBAL_MERCHANT: payments go to the bundled Zibal emulator on {env['ZIBAL_BASE_URL']}")
        processes.append("zibal-emulator")
    if not selected and not env.get("STRIPE_API_KEY"):
        gateway_url = f"http://127.0.0.1:{env.get('GATEWAY_PORT', '8000')}"
        port = int(env.setdefault("LOCALSTRIPE_PORT", str(stripe_local.DEFAULT_PORT)))
        env.update(stripe_local.dev_env(port, gateway_url, "whsec_" + secrets.token_urlsafe(24)))
        say(f"no STRIPE_API_KEY: Stripe payments (plans in currencies other than IRT) go to localstripe on "
            f"{env['STRIPE_API_BASE']}; the card page /pay/stripe/ uses its Stripe.js stand-in (card 4242 4242 4242 4242)")
        processes.append("localstripe")
    # The gateway and the bot share the bot's credential for linking; one made up per run will do.
    env.setdefault("TELEGRAM_BOT_SERVICE_TOKEN", secrets.token_urlsafe(32))
    if not selected and not env.get("TELEGRAM_BOT_TOKEN"):
        telegram_url = f"http://127.0.0.1:{env.setdefault('TELEGRAM_EMULATOR_PORT', '8093')}"
        env.setdefault("TELEGRAM_API_URL", telegram_url)
        say(f"no TELEGRAM_BOT_TOKEN: the bot polls the bundled Telegram emulator; talk to it with POST "
            f"{telegram_url}/emulator/updates, read it at {telegram_url}/emulator/chats/<user id>/messages")
        processes.append("telegram-emulator")
    (ROOT / "var").mkdir(exist_ok=True)
    say(f"starting {', '.join(processes)}; gateway on http://127.0.0.1:{env.get('GATEWAY_PORT', '8000')}; Ctrl-C stops all")
    honcho = Path(sys.executable).with_name("honcho")
    child = subprocess.Popen([str(honcho), "-d", str(ROOT), "-f", str(ROOT / "Procfile"), "start", *processes], env=env)
    # Ctrl-C reaches honcho through the process group; it stops every process it started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    code = child.wait()
    for server in servers:
        server.stop()
    return code


def ensure() -> int:
    servers = _servers()
    describe(servers)
    print(f"RABBIT_URL={servers[0].url}\nREDIS_URL={servers[1].url}")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "ensure"}:
        print(__doc__)
        return 2
    return run(argv[1:]) if argv[0] == "run" else ensure()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
