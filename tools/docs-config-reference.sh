#!/usr/bin/env bash
# Regenerates the configuration reference in docs/operations.md (between the config-reference
# markers) from the binary's one table of settings: `causeway config reference --markdown`.
# ObserveTest.OperationsDocHasTheGeneratedConfigReference fails until this is run after a change.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CAUSEWAY_BIN:-build/bin/causeway}
"$BIN" config reference --markdown > /tmp/causeway-config-reference.$$
python3 - docs/operations.md /tmp/causeway-config-reference.$$ <<'PY'
import sys
doc_path, ref_path = sys.argv[1], sys.argv[2]
doc, ref = open(doc_path).read(), open(ref_path).read()
begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
b, e = doc.index(begin) + len(begin), doc.index(end)
open(doc_path, "w").write(doc[:b] + ref + doc[e:])
PY
rm -f /tmp/causeway-config-reference.$$
