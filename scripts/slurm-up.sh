#!/usr/bin/env bash
# Bring up a single-node SLURM cluster on this machine (Debian slurm-wlm + munge, no systemd).
#
#   sudo-less root:  bash scripts/slurm-up.sh        -> prints "slurm-up: ready (N s)"
#
# Exit status 0 when `sinfo` shows the node idle; 3 when this machine cannot (no root, no apt,
# no network to the package index): the caller then skips SLURM tests and says why.
# Idempotent: re-running with the daemons up only checks them.
set -euo pipefail
start=$(date +%s)
say() { echo "slurm-up: $*" >&2; }

if [ "$(id -u)" != 0 ]; then say "skip: needs root (to install packages and start daemons)"; exit 3; fi
if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  if ! command -v apt-get >/dev/null; then say "skip: no apt-get to install slurm-wlm"; exit 3; fi
  say "installing slurm-wlm and munge with apt (about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq slurm-wlm munge >/dev/null; }; then
    say "skip: apt-get could not install slurm-wlm munge"; exit 3
  fi
fi

# munge: the key, its socket directory, the daemon as user munge
install -d -o munge -g munge -m 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1 || true; fi
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

# slurm.conf: the node is this host, CPUs and ~85% of the memory; no cgroups, no accounting DB
node=$(hostname -s)
cpus=$(nproc)
mem=$(( $(free -m | awk '/^Mem:/ {print $2}') * 85 / 100 ))
conf_dir=/etc/slurm
install -d "$conf_dir"
cat > "$conf_dir/slurm.conf.new" <<CONF
ClusterName=aihep
SlurmctldHost=$node
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MpiDefault=none
ReturnToService=2
SlurmUser=slurm
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
mv "$conf_dir/slurm.conf.new" "$conf_dir/slurm.conf"
install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm /run/slurm
install -d /var/spool/slurmd

if ! pgrep -x slurmctld >/dev/null; then slurmctld; fi
if ! pgrep -x slurmd >/dev/null; then slurmd; fi
for _ in $(seq 100); do
  state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
  case "$state" in idle|mix|alloc) say "ready ($(( $(date +%s) - start )) s, node $node, $cpus CPUs)"; exit 0;; esac
  sleep 0.2
done
say "daemons started but the node is not idle (state '${state:-none}'); see /var/log/slurm"
exit 1
