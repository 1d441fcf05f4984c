.PHONY: demo test lint bench soak install

demo:
	scripts/demo

test:
	scripts/test

bench:
	scripts/bench

soak:
	scripts/soak

lint:
	scripts/install
	scripts/lint

install:
	scripts/install
