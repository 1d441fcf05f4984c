.PHONY: demo test lint bench accuracy soak install

demo:
	scripts/demo

test:
	scripts/test

bench:
	scripts/bench

accuracy:
	scripts/accuracy

soak:
	scripts/soak

lint:
	scripts/install
	scripts/lint

install:
	scripts/install
