"""`python -m chat`: run the chat service."""

from chat.main import create_app
from chat.settings import get_settings
from shared.serve import serve


def main() -> None:
    serve("chat", get_settings(), create_app)


if __name__ == "__main__":
    main()
