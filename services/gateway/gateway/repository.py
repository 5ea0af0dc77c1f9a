"""The only place with SQL in the gateway: reading and writing users."""

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import User


class PhoneTaken(Exception):
    """Another user already has this phone number."""


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, user_id: int) -> User | None:
        return await self.s.get(User, user_id)

    async def by_phone(self, phone_number: str) -> User | None:
        result = await self.s.exec(select(User).where(User.phone_number == phone_number))
        return result.first()

    async def add(
        self,
        phone_number: str,
        name: str,
        joined: datetime,
        *,
        password_hash: str | None = None,
        is_verified: bool = False,
        is_staff: bool = False,
    ) -> User:
        user = User(
            phone_number=phone_number, name=name, password_hash=password_hash,
            is_verified=is_verified, is_staff=is_staff, date_joined=joined,
        )
        self.s.add(user)
        try:
            # The unique index decides a race between two sign-ups with the same phone; the
            # caller's transaction is then rolled back.
            await self.s.flush()
        except IntegrityError as exc:
            raise PhoneTaken(phone_number) from exc
        return user

    async def search(self, phone_fragment: str | None, offset: int, limit: int | None) -> tuple[int, list[User]]:
        """Users whose phone number contains the given digits (all users without a filter); limit None: all."""
        query = select(User)
        if phone_fragment:
            query = query.where(User.phone_number.contains(phone_fragment))
        count = (await self.s.exec(select(func.count()).select_from(query.subquery()))).one()
        rows = await self.s.exec(query.order_by(User.id).offset(offset).limit(limit))
        return count, list(rows.all())

    async def phone_numbers(self, user_ids: list[int]) -> dict[int, str]:
        rows = await self.s.exec(select(User.id, User.phone_number).where(col(User.id).in_(user_ids)))
        return dict(rows.all())

    async def is_last_staff(self, user_id: int) -> bool:
        """True when `user_id` is staff and no one else is. The staff rows are locked (PostgreSQL) so two
        staff users removing their flags at the same moment cannot both pass."""
        rows = await self.s.exec(select(User.id).where(col(User.is_staff).is_(True)).with_for_update())
        staff = set(rows.all())
        return staff == {user_id}

    async def set_staff(self, user_id: int, is_staff: bool) -> User | None:
        user = await self.s.get(User, user_id)
        if user is not None:
            user.is_staff = is_staff
            self.s.add(user)
        return user
