#!/usr/bin/env bash
# Lint every Galaxy wrapper and the workflow, then run their tests in a real Galaxy server.
#
# Run from anywhere after `.ci/run` has installed the project in .venv (or set PROJECT_VENV).
# Installs planemo and Galaxy from PyPI into their own venvs under $GALAXY_CI_WORK (default
# ${TMPDIR:-/tmp}/multirm-galaxy-ci; kept between runs, so a second run skips the installs),
# starts galaxy-web and a celery worker on 127.0.0.1 with the project's venv as the jobs'
# environment, runs planemo lint / shed_lint / workflow_lint and `planemo test --engine
# external_galaxy`, stops the server, and ends with the line `N passed, N failed` counted from
# planemo's JSON reports. Exit status 0 only when lint is clean and every test passed.
# Why each step is done this way: ../shared/notes/galaxy-offline-testing.md.
set -euo pipefail

PLANEMO_VERSION=0.75.47
GALAXY_VERSION=26.1.2
UV_VERSION=0.13.9
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WRAPPERS="$ROOT/galaxy_wrappers"
WORKFLOWS=("$WRAPPERS"/workflow/*.gxwf.yml)
PROJECT_VENV="${PROJECT_VENV:-$ROOT/.venv}"
WORK="${GALAXY_CI_WORK:-${TMPDIR:-/tmp}/multirm-galaxy-ci}"
START_TIMEOUT="${GALAXY_START_TIMEOUT:-900}"

PHASE=""
PHASE_START=$SECONDS
TIMINGS=()
end_phase() {
    if [ -n "$PHASE" ]; then
        TIMINGS+=("$PHASE: $((SECONDS - PHASE_START)) s")
        echo "== galaxy-ci: $PHASE done in $((SECONDS - PHASE_START)) s"
    fi
    PHASE=""
}
phase() {
    end_phase
    PHASE="$1"
    PHASE_START=$SECONDS
    echo "== galaxy-ci: $1"
}

WEB_PGID=""
CELERY_PGID=""
# Stop web and celery by process group: killing celery's pid alone leaves its forkserver running.
stop_server() {
    local pgid
    for pgid in $WEB_PGID $CELERY_PGID; do
        kill -TERM -- "-$pgid" 2>/dev/null || true
    done
    for _ in $(seq 60); do
        local alive=0
        for pgid in $WEB_PGID $CELERY_PGID; do
            kill -0 -- "-$pgid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.5
    done
    for pgid in $WEB_PGID $CELERY_PGID; do
        kill -KILL -- "-$pgid" 2>/dev/null || true
    done
    WEB_PGID=""
    CELERY_PGID=""
}
trap stop_server EXIT

# One function, read whole before it runs: editing this file during a run cannot derail it.
main() {
    if [ ! -x "$PROJECT_VENV/bin/multirm-predict" ]; then
        echo "galaxy-ci: error: $PROJECT_VENV/bin/multirm-predict not found; install the project first (.ci/run) or set PROJECT_VENV" >&2
        exit 2
    fi
    # every wrapper goes into the server; FILE arguments (wrappers, workflows) narrow lint and tests
    mapfile -t ALL_TOOLS < <(grep -l '^<tool ' "$WRAPPERS"/*.xml | sort)
    TOOLS=("${ALL_TOOLS[@]}")
    if [ "$#" -gt 0 ]; then
        TOOLS=()
        WORKFLOWS=()
        for f in "$@"; do
            case "$f" in
                *.gxwf.yml) WORKFLOWS+=("$(realpath "$f")") ;;
                *.xml) TOOLS+=("$(realpath "$f")") ;;
                *) echo "galaxy-ci: error: $f is neither a wrapper (.xml) nor a workflow (.gxwf.yml)" >&2; exit 2 ;;
            esac
        done
    fi
    if [ "${#ALL_TOOLS[@]}" = 0 ]; then
        echo "galaxy-ci: error: no wrappers in $WRAPPERS" >&2
        exit 2
    fi
    if [ "$#" = 0 ] && [ ! -e "${WORKFLOWS[0]}" ]; then
        echo "galaxy-ci: error: no workflow (*.gxwf.yml) in $WRAPPERS/workflow" >&2
        exit 2
    fi
    echo "galaxy-ci: ${#TOOLS[@]} wrappers, ${#WORKFLOWS[@]} workflow(s); work folder $WORK"
    mkdir -p "$WORK"

    phase "install planemo $PLANEMO_VERSION and galaxy $GALAXY_VERSION"
    BASE_PYTHON="$(python3 -c 'import sys; print(sys._base_executable)')"
    if [ ! -x "$WORK/uv/bin/uv" ]; then
        "$BASE_PYTHON" -m venv "$WORK/uv"
        "$WORK/uv/bin/python" -m pip install -q "uv==$UV_VERSION"
    fi
    UV="$WORK/uv/bin/uv"
    if [ ! -e "$WORK/planemo/.installed-$PLANEMO_VERSION" ]; then
        rm -rf "$WORK/planemo"
        "$UV" venv -q --python "$BASE_PYTHON" "$WORK/planemo"
        "$UV" pip install -q --python "$WORK/planemo/bin/python" "planemo==$PLANEMO_VERSION"
        touch "$WORK/planemo/.installed-$PLANEMO_VERSION"
    fi
    if [ ! -e "$WORK/galaxy/.installed-$GALAXY_VERSION" ]; then
        rm -rf "$WORK/galaxy"
        "$UV" venv -q --python "$BASE_PYTHON" "$WORK/galaxy"
        "$UV" pip install -q --python "$WORK/galaxy/bin/python" "galaxy==$GALAXY_VERSION" \
            --override "$HERE/overrides.txt"
        touch "$WORK/galaxy/.installed-$GALAXY_VERSION"
    fi
    PLANEMO="$WORK/planemo/bin/planemo"
    # the repository's planemo settings (engine, no dependency resolution); URL and keys come below
    export PLANEMO_GLOBAL_CONFIG_PATH="$ROOT/planemo.yml"

    phase "start galaxy"
    SERVER="$WORK/server"
    rm -rf "$SERVER" "$WORK/reports" "$WORK/tmp"
    mkdir -p "$SERVER/data" "$SERVER/config" "$WORK/reports" "$WORK/tmp"
    {
        echo '<?xml version="1.0"?>'
        echo '<toolbox monitor="false">'
        echo '    <section id="getext" name="Get Data"><tool file="data_source/upload.xml"/></section>'
        echo '    <section id="multirm" name="MultiRM">'
        for tool in "${ALL_TOOLS[@]}"; do
            echo "        <tool file=\"$tool\"/>"
        done
        echo '    </section>'
        echo '</toolbox>'
    } > "$SERVER/tool_conf.xml"
    BOOTSTRAP_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    sed -e "s#@WORK@#$WORK#g" -e "s#@TOOL_CONF@#$SERVER/tool_conf.xml#g" -e "s#@KEY@#$BOOTSTRAP_KEY#g" \
        "$HERE/galaxy.yml.in" > "$SERVER/galaxy.yml"
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    URL="http://127.0.0.1:$PORT"
    export GALAXY_CONFIG_FILE="$SERVER/galaxy.yml"
    # Jobs run in the environment named by the server's VIRTUAL_ENV: the project's venv, so the
    # wrappers find the multirm-* commands. One thread per job: the machine is small.
    (cd "$SERVER" && VIRTUAL_ENV="$PROJECT_VENV" PATH="$PROJECT_VENV/bin:$PATH" OMP_NUM_THREADS=1 \
        exec setsid "$WORK/galaxy/bin/galaxy-web" -c "$SERVER/galaxy.yml" -b "127.0.0.1:$PORT" \
        > "$SERVER/web.log" 2>&1) &
    WEB_PGID=$!
    deadline=$((SECONDS + START_TIMEOUT))

    phase "lint (while galaxy starts)"
    LINT_FAILED=()
    if [ "${#TOOLS[@]}" -gt 0 ]; then
        (cd "$WRAPPERS" && "$PLANEMO" lint --fail_level warn --report_level warn "${TOOLS[@]}") \
            || LINT_FAILED+=("planemo lint")
    fi
    # shed_lint on a copy at the suite's place in tools-iuc: its remote_repository_url check wants the
    # URL (.shed.yml) to end with the folder's last two path parts
    rm -rf "$WORK/shed"
    mkdir -p "$WORK/shed/tools"
    cp -r "$WRAPPERS" "$WORK/shed/tools/multirm_tools"
    (cd "$WORK/shed/tools/multirm_tools" && "$PLANEMO" shed_lint --tools --ensure_metadata \
        --skip_file "$HERE/shed_lint_skip.txt" --report_level warn --fail_level warn --recursive .) \
        || LINT_FAILED+=("planemo shed_lint")
    if [ "${#WORKFLOWS[@]}" -gt 0 ]; then
        "$PLANEMO" workflow_lint --fail_level warn "${WORKFLOWS[@]}" || LINT_FAILED+=("planemo workflow_lint")
    fi

    phase "wait for galaxy"
    until python3 -c "import urllib.request; urllib.request.urlopen('$URL/api/version', timeout=5)" 2>/dev/null; do
        if ! kill -0 "$WEB_PGID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            echo "galaxy-ci: error: Galaxy did not answer $URL/api/version within $START_TIMEOUT s (or exited); last lines of $SERVER/web.log:" >&2
            tail -n 40 "$SERVER/web.log" >&2
            exit 1
        fi
        sleep 3
    done
    # metadata of job outputs is set by this worker (metadata_strategy: directory_celery)
    (cd "$SERVER" && exec setsid "$WORK/galaxy/bin/celery" --app galaxy.celery worker --concurrency 2 \
        --pool threads --queues celery,galaxy.internal,galaxy.external > "$SERVER/celery.log" 2>&1) &
    CELERY_PGID=$!
    KEY="$(python3 "$HERE/api_key.py" "$URL" "$BOOTSTRAP_KEY" ci-admin@example.org)"
    echo "galaxy-ci: Galaxy $(python3 -c "import json, urllib.request; print(json.load(urllib.request.urlopen('$URL/api/version'))['version_major'])") at $URL"

    # planemo leaves each test's downloaded outputs in a temporary folder: keep them in $WORK/tmp
    export TMPDIR="$WORK/tmp"
    TEST_ARGS=(--engine external_galaxy --galaxy_url "$URL" --galaxy_admin_key "$KEY" --galaxy_user_key "$KEY")
    REPORTS=()
    if [ "${#TOOLS[@]}" -gt 0 ]; then
        phase "test ${#TOOLS[@]} wrappers"
        (cd "$WORK/reports" && "$PLANEMO" test "${TEST_ARGS[@]}" --test_output_json tools.json \
            --test_output tools.html "${TOOLS[@]}") || true
        REPORTS+=("$WORK/reports/tools.json")
    fi
    if [ "${#WORKFLOWS[@]}" -gt 0 ]; then
        phase "test ${#WORKFLOWS[@]} workflow(s)"
        (cd "$WORK/reports" && "$PLANEMO" test "${TEST_ARGS[@]}" --test_output_json workflow.json \
            --test_output workflow.html "${WORKFLOWS[@]}") || true
        REPORTS+=("$WORK/reports/workflow.json")
    fi

    phase "stop galaxy"
    SUMMARY_STATUS=0
    python3 "$HERE/planemo_summary.py" "${REPORTS[@]}" > "$WORK/reports/summary.txt" || SUMMARY_STATUS=$?
    stop_server
    end_phase

    for line in "${TIMINGS[@]}"; do
        echo "galaxy-ci: $line"
    done
    for name in "${LINT_FAILED[@]}"; do
        echo "galaxy-ci: $name reported problems (see above)"
    done
    echo "galaxy-ci: reports in $WORK/reports (HTML and JSON), server logs in $SERVER"
    cat "$WORK/reports/summary.txt"
    [ "${#LINT_FAILED[@]}" = 0 ] && [ "$SUMMARY_STATUS" = 0 ]
}

main "$@"
exit $?
