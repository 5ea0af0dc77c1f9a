"""`python -m billing`: run the billing service."""

from billing.main import create_app
from billing.settings import get_settings
from shared.serve import serve


def main() -> None:
    serve("billing", get_settings(), create_app)


if __name__ == "__main__":
    main()
