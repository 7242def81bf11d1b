"""Runs one Flink SQL script on a local PyFlink mini-cluster and waits for
its INSERT to finish: the Flink half of the benchmarks that compare (see
tests/support/flink.rs).

    python flink_sql.py SCRIPT.sql JARS PARALLELISM

JARS: the connector jars the job needs, separated by ';'.

The script holds CREATE TABLE statements and one INSERT, separated by ';'
at line ends, exactly as rtdw runs it (Flink's SET lines included).
"""

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment


def main():
    script, jars, parallelism = sys.argv[1], sys.argv[2], sys.argv[3]
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("pipeline.jars", ";".join("file://" + jar for jar in jars.split(";")))
    config.set("parallelism.default", parallelism)
    with open(script) as f:
        statements = [s.strip() for s in f.read().split(";\n") if s.strip()]
    insert = None
    for statement in statements:
        if statement.upper().startswith("SET "):
            key, value = statement[4:].split("=", 1)
            config.set(key.strip().strip("'"), value.strip().strip("'"))
        elif statement.upper().startswith("INSERT"):
            insert = statement
        else:
            env.execute_sql(statement)
    env.execute_sql(insert).wait()


if __name__ == "__main__":
    main()
