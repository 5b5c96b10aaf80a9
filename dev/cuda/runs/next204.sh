#!/usr/bin/env bash
# (runs on the branch wip-rms-partials, not merged: slower; see README, twenty-eighth session)
# (branch wip-rms-partials) next200 with the consumer's loads of the producer's sums asked for before its products and added after them (psr), not summed right after the wait
BATCHES=3,4,8 exec bash "$(dirname "$0")/next200.sh"
