#!/usr/bin/env bash
# Thirty-fourth session: racecheck on mbar_race_lab.cu's four variants (one mbarrier initialised
# by thread 0, arrived on by thread 128 after a block barrier of each kind; the control: thread 0
# both). Whether next251's warnings are the tool's reading of an ordered init, or a race.
cd "$(dirname "$0")/../../.."
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/mbl dev/cuda/mbar_race_lab.cu || exit 1
for v in 0 1 2 3; do
  "$CS" --tool racecheck /tmp/mbl $v 2>&1 | grep -E "variant|Race reported|RACECHECK SUMMARY" | cut -c1-160
done
