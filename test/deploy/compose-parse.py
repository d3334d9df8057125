# Loads a compose file with podman-compose's own parser (the code `podman-compose up` runs before
# it starts anything: variable interpolation with ${VAR:?error}, merge keys, extends,
# depends_on resolution, networks) and prints what it made of it as JSON. Debian 12's
# podman-compose (1.0.3) has no `config` command, and its --dry-run still creates volumes and
# networks, so test/deploy/compose.test.ts uses this instead. Runs no podman.
import json
import sys

import podman_compose as pc

c = pc.podman_compose  # the module-level instance the commands are registered on
sys.argv = ["podman-compose", "-f", sys.argv[1], "ps"]
c.global_args = c._parse_args()
c.podman = pc.Podman(c, "podman", True)
c._parse_compose_file()
json.dump(
    {
        "project": c.project_name,
        "services": {k: {x: y for x, y in v.items() if x != "_deps"} | {"_deps": sorted(v.get("_deps", []))} for k, v in c.services.items()},
        "containers": [x.get("name") for x in c.containers],
    },
    sys.stdout,
    default=str,
)
