from alembic import context

from haven_runtime.migrations import run_env

run_env(context)
