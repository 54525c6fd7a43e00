"""Runs SQL on current ClickHouse through chDB (the engine as a library; stack.sh installs it).

Reads {"statements": [...], "queries": [...]} as JSON on stdin: runs the statements in order in one
session (its data in a fresh temporary directory), then each query, and prints {"results": [rows per
query]} with each row as an object of strings. The first statement or query that fails prints
{"error", "sql"} instead. Exits 0 either way: the caller judges the answer.
"""
import json
import sys
import tempfile

import chdb
from chdb import session


def rows(answer):
    text = answer.bytes().decode() if answer is not None else ''
    return [{k: str(v) for k, v in json.loads(line).items()} for line in text.splitlines() if line]


def main():
    request = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as path:
        s = session.Session(path)
        out = {'engine': chdb.engine_version, 'results': []}
        sql = None
        try:
            for sql in request['statements']:
                s.query(sql)
            for sql in request['queries']:
                out['results'].append(rows(s.query(sql, 'JSONEachRow')))
        except Exception as err:  # a ChdbError names the ClickHouse error code and message
            out = {'engine': chdb.engine_version, 'error': str(err), 'sql': sql}
        s.close()
    json.dump(out, sys.stdout)


main()
