.PHONY: demo test lint bench install

demo:
	scripts/demo

test:
	scripts/test

bench:
	scripts/bench

lint:
	scripts/install
	scripts/lint

install:
	scripts/install
