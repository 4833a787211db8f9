"""Objects in the bucket that no file row owns, and when to remove them.

An upload records its object's key here before the first byte reaches S3 and
deletes the record in the transaction that creates the file's row; the
clean-up of staged files moves an expired file's key here in the transaction
that deletes its row. So an object that outlives its upload (S3 went away
mid-upload, the process died) or its file is always written down somewhere,
and the clean-up job removes it once S3 answers.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "unclaimed_objects",
        sa.Column("storage_key", sa.Text, primary_key=True),
        sa.Column("recorded_at", TZ, nullable=False, server_default=sa.func.now()),
        # Until then an upload may still be writing it.
        sa.Column("remove_after", TZ, nullable=False),
    )
    op.create_index("unclaimed_objects_due", "unclaimed_objects", ["remove_after"])


def downgrade() -> None:
    op.drop_table("unclaimed_objects")
