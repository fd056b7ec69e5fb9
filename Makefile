# Shorthands for dev.py, which needs only Python 3.11+.
.PHONY: bench test
bench:
	python3 dev.py bench
test:
	python3 dev.py test
