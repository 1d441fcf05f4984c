.PHONY: demo test lint install

demo:
	scripts/demo

test:
	scripts/test

lint:
	scripts/install
	scripts/lint

install:
	scripts/install
