# Everyday commands. Each works on a fresh clone (the scripts create .venv).
.PHONY: run test lint fmt bench bench-broadcast sample-digest tips audit migrate clean

run:            ## run the service (web chat; Telegram when TELEGRAM_BOT_TOKEN is set)
	./scripts/run

test:           ## tests + ruff + mypy, exactly as CI runs them
	./scripts/test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

fmt:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench:          ## pipeline vs bare python-telegram-bot; prints ratio=
	.venv/bin/python bench/intake.py

bench-broadcast: ## a 3,000-recipient campaign vs a strict fake; prints ratio= 429s= duplicates=
	.venv/bin/python bench/broadcast.py

sample-digest:  ## a digest from 1,000 sample tips -> docs/samples/
	.venv/bin/python bench/sample_digest.py

audit:          ## the latest staff actions (allowed and denied)
	.venv/bin/tipbot audit

tips:           ## list stored tips (no contact details)
	.venv/bin/tipbot tips

migrate:
	.venv/bin/tipbot migrate

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
