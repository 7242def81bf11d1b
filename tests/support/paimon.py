"""Apache Paimon's own Python implementation (pypaimon) as the tests'
independent reader and writer of Paimon tables.

    paimon.py read CATALOG_JSON DB.TABLE    print the table's rows (latest
                                            snapshot, merged) as JSON
    paimon.py snapshots CATALOG_JSON DB.TABLE
                                            print each snapshot's id, commit
                                            user, identifier and kind as JSON
    paimon.py changes CATALOG_JSON DB.TABLE
                                            print, as a streaming reader sees
                                            them, the changes of every
                                            snapshot from the first to the
                                            latest: rows with their
                                            _row_kind, in order, as JSON
    paimon.py write-sample CATALOG_JSON DB ROWS
                                            create DB.events (append: id,
                                            amount = 2 * id, ROWS rows in two
                                            commits) and DB.users (primary
                                            key id, 2 buckets: ids 1..ROWS
                                            named 'u<id>', then the even ids
                                            renamed 'v<id>' in a second commit)

CATALOG_JSON holds pypaimon's catalog options: {"warehouse": ...} plus the
s3.* keys for an S3 warehouse.
"""

import json
import sys

import pyarrow as pa
from pypaimon import CatalogFactory, Schema


def table_of(options, name):
    return CatalogFactory.create(json.loads(options)).get_table(name)


def read(options, name):
    table = table_of(options, name)
    builder = table.new_read_builder()
    splits = builder.new_scan().plan().splits()
    rows = builder.new_read().to_arrow(splits).to_pylist()
    json.dump(rows, sys.stdout, default=str)


def snapshots(options, name):
    table = table_of(options, name)
    manager = table.snapshot_manager()
    latest = manager.get_latest_snapshot()
    found = []
    if latest is not None:
        for snapshot_id in range(1, latest.id + 1):
            snapshot = manager.get_snapshot_by_id(snapshot_id)
            if snapshot is None:
                continue
            found.append(
                {
                    "id": snapshot.id,
                    "commit_user": snapshot.commit_user,
                    "commit_identifier": snapshot.commit_identifier,
                    "commit_kind": str(snapshot.commit_kind),
                }
            )
    json.dump(found, sys.stdout)


def changes(options, name):
    table = table_of(options, name)
    latest = table.snapshot_manager().get_latest_snapshot()
    found = []
    if latest is not None:
        builder = table.new_stream_read_builder().with_include_row_kind(True)
        scan = builder.new_streaming_scan()
        # From the first snapshot, one plan per snapshot: no catch-up diff.
        scan.next_snapshot_id = 1
        scan._diff_threshold = latest.id + 1
        read = builder.new_read()
        for plan in scan.stream_sync():
            found.extend(read.to_arrow(plan.splits()).to_pylist())
            if plan.snapshot_id is not None and plan.snapshot_id >= latest.id:
                break
    json.dump(found, sys.stdout, default=str)


def commit(table, batch):
    builder = table.new_batch_write_builder()
    write = builder.new_write()
    table_commit = builder.new_commit()
    write.write_arrow(batch)
    table_commit.commit(write.prepare_commit())
    write.close()
    table_commit.close()


def write_sample(options, database, rows):
    rows = int(rows)
    catalog = CatalogFactory.create(json.loads(options))
    catalog.create_database(database, True)
    events_schema = pa.schema([("id", pa.int64()), ("amount", pa.int64())])
    catalog.create_table(
        f"{database}.events", Schema.from_pyarrow_schema(events_schema), False
    )
    events = catalog.get_table(f"{database}.events")
    half = rows // 2
    for ids in (range(1, half + 1), range(half + 1, rows + 1)):
        ids = list(ids)
        commit(events, pa.Table.from_pydict(
            {"id": ids, "amount": [2 * i for i in ids]}, schema=events_schema))
    users_schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("name", pa.string())])
    catalog.create_table(
        f"{database}.users",
        Schema.from_pyarrow_schema(users_schema, primary_keys=["id"], options={"bucket": "2"}),
        False,
    )
    users = catalog.get_table(f"{database}.users")
    ids = list(range(1, rows + 1))
    commit(users, pa.Table.from_pydict(
        {"id": ids, "name": [f"u{i}" for i in ids]}, schema=users_schema))
    evens = [i for i in ids if i % 2 == 0]
    commit(users, pa.Table.from_pydict(
        {"id": evens, "name": [f"v{i}" for i in evens]}, schema=users_schema))
    print("[]")


if __name__ == "__main__":
    command, options, name = sys.argv[1:4]
    if command == "write-sample":
        write_sample(options, name, sys.argv[4])
    else:
        {"read": read, "snapshots": snapshots, "changes": changes}[command](options, name)
