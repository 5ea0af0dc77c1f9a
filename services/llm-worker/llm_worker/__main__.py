"""`python -m llm_worker`: run the llm-worker (health on port 8003, metrics on 9113)."""

from llm_worker.main import create_app
from llm_worker.settings import get_settings
from shared.serve import serve


def main() -> None:
    serve("llm-worker", get_settings(), create_app, access_log=False)


if __name__ == "__main__":
    main()
