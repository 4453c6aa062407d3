"""The domain. Never imports FastAPI, Starlette or any other web framework."""
