# The OMS's commands. `make demo` and `make test` are the two that matter; see README.md.
PY      ?= .venv/bin/python
VENV    := .venv/.installed
export OMS_STACK ?= auto

.PHONY: help install jars infra-up infra-up-cluster infra-down test test-throttled test-fast lint contracts demo up down logs metrics bench bench-relay \
        kafka-console kafka-topics kafka-groups clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(VENV): pyproject.toml
	@bash scripts/prerequisites.sh
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	PYTHONWARNINGS=ignore .venv/bin/pip install -q -e '.[dev]'  # quiet: the build's one warning says the install is editable
	touch $(VENV)

install: $(VENV) ## virtual environment with the pinned packages

jars: $(VENV) ## fetch the Kafka broker jars from Maven Central (cached in ~/.cache/oms)
	$(PY) -c "from devstack.stack import NativeKafka; from runtime.settings import get_settings; NativeKafka(get_settings()).ensure_jars()"

infra-up: $(VENV) ## start Kafka and PostgreSQL (native, or docker compose where Docker runs)
	$(PY) -m devstack.stack up

infra-up-cluster: $(VENV) ## the same with three replicated Kafka brokers (the cluster profile, native)
	OMS_KAFKA_BROKERS=3 $(PY) -m devstack.stack up

infra-down: $(VENV) ## stop what infra-up started
	$(PY) -m devstack.stack down

test: $(VENV) ## the whole suite on the real broker and database (starts them when needed)
	@bash scripts/prerequisites.sh --tests
	$(PY) -m pytest --durations=15 $(PYTEST_ARGS)

test-throttled: $(VENV) ## make test on a third of the machine's CPU, servers included (root: a cgroup quota)
	bash scripts/throttled.sh

test-fast: $(VENV) ## pure logic, every handler of every service in memory, the contracts: no server, seconds
	$(PY) -m pytest -m "unit or contract"

lint: $(VENV) ## ruff and mypy
	.venv/bin/ruff check .
	.venv/bin/mypy contracts runtime rules devstack oms_cli services tests

contracts: $(VENV) ## regenerate JSON Schemas and the AsyncAPI document from the models
	$(PY) -m contracts.generate

bench-relay: $(VENV) ## outbox relay throughput, commit to broker ack
	$(PY) -m scripts.bench_relay

KAFKA_TOOL = java -cp "$$HOME/.cache/oms/kafka-4.1.1/libs/*"  # log4j2 defaults: errors only
OPERATOR_PROPERTIES = $(or $(OMS_HOME),.oms)/operator.properties

# written again when the stack's passwords are newer (a stack made again has new ones)
$(OPERATOR_PROPERTIES): $(VENV) $(wildcard $(or $(OMS_HOME),.oms)/credentials.json)
	@.venv/bin/oms credentials operator --properties $(OPERATOR_PROPERTIES) > /dev/null

kafka-console: $(OPERATOR_PROPERTIES) ## read a topic from the start as an operator: make kafka-console TOPIC=oms.orders.events.v1
	$(KAFKA_TOOL) org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server 127.0.0.1:19092 \
	  --consumer.config $(OPERATOR_PROPERTIES) --group operator.console.$$$$ --topic $(TOPIC) \
	  --from-beginning --property print.key=true --property print.headers=true $(ARGS)

kafka-topics: $(OPERATOR_PROPERTIES) ## list topics with partitions, as an operator
	$(KAFKA_TOOL) org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 \
	  --command-config $(OPERATOR_PROPERTIES) --describe | grep -v '^\s*Topic:.*Partition:' || true

kafka-groups: $(OPERATOR_PROPERTIES) ## every consumer group with its lag, as an operator
	$(KAFKA_TOOL) org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server 127.0.0.1:19092 \
	  --command-config $(OPERATOR_PROPERTIES) --describe --all-groups

clean: infra-down ## stop the stack and delete its data
	rm -rf .oms

demo: $(VENV) ## the whole OMS with a realistic mix of orders, live progress and a summary; stops what it started
	.venv/bin/oms demo

up: $(VENV) ## the stack, every service and the simulators in the background
	.venv/bin/oms up

down: $(VENV) ## stop what `make up` started
	.venv/bin/oms down

logs: $(VENV) ## follow the services' logs
	.venv/bin/oms logs --follow

metrics: $(VENV) ## a summary scraped from every running service's Prometheus endpoint
	.venv/bin/oms metrics

bench: $(VENV) ## burst, steady load, the machine's limits and the cost per order; writes results/
	$(PY) -m scripts.bench $(BENCH_ARGS)
