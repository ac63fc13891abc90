# Sourced by bench.sh and bench-deliver.sh: their shared options and the quiet-machine rule.
#
#   --smoke            a few seconds per scenario on the debug build
#   --baseline PATH    every run also on the push-server binary PATH (an earlier build),
#                      alternately with this one, BENCH_ROUNDS times each (default 2); each row
#                      names its binary (docs/benchmarks.md: how to build a baseline)
#   --force            measure even though the machine is not quiet (the table then says so)
#
# A figure is only worth its machine: a full run refuses to start when the 1-minute load average
# is above 0.5 (other work on the cores would be measured too) unless --force, and the table says
# the load average before and after either way.

smoke=false
force=false
baseline=()
while (($#)); do
    case $1 in
        --smoke) smoke=true ;;
        --force) force=true ;;
        --baseline)
            [[ -x ${2:-} ]] || { echo "${0##*/}: --baseline wants an executable push-server binary" >&2; exit 2; }
            baseline=(--baseline "$(realpath "$2")" --rounds "${BENCH_ROUNDS:-2}")
            shift ;;
        *) echo "${0##*/}: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
    esac
    shift
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
quiet_before=$(awk '{ print ($1 <= 0.5) ? "true" : "false" }' /proc/loadavg)
if ! $smoke && ! $force && ! $quiet_before; then
    echo "${0##*/}: load average $load_before is above 0.5: the figures would measure the other" >&2
    echo "work too. Wait for a quiet machine, or pass --force (the table then says so)." >&2
    exit 3
fi

# The machine and its load around the run, printed above the table.
print_machine() {
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "Load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if ! $quiet_before; then
        echo "NOT A QUIET MACHINE (load average $load_before before the run): these figures measure other work too."
    fi
}
