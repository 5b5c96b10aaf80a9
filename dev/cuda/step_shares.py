#!/usr/bin/env python3
"""step_shares.py (lab): what each kind of kernel adds to a decoding step, from trace_inject.c's
CSV (the records trace_steps.py reads). The chain's kernels overlap (programmatic dependent
launch), so a kernel's own duration overstates its cost; here each kernel is charged with how
far it moves the step's end: its end minus the latest end before it (0 if it ends earlier).
Those charges add up to the step's span. Means over the last `steps` complete steps (default
3), in us a step and in % of it, by kind:

    python3 step_shares.py trace.csv [steps]

    state      the state's step (step_window*, step_rows*, window_advance, the fold)
    products   the weights' products (gemv_mma*, gemv*, cuBLASLt's nvjet* and split-K reductions)
    norms      the RMSNorms of x (norm_fwd_kernel with 256 threads)
    head norm  the head norm and gate (norm_fwd_kernel with 64 threads)
    split      q k v g's split and rotation past 16 rows (qkvg_split*)
    act        the GLU's act (ew_kernel)
    persistent the B = 1 step's one kernel (pstep_kernel)
    other      embedding, argmax and the rest
"""
import collections
import sys

from trace_steps import load, step_bounds


def kind(name):
    if name.startswith(('step_', 'window_', 'fold')):
        return 'state'
    if name.startswith(('gemv', 'nvjet', 'cutlass', '_ZN8cublasLt', 'splitK')) or 'splitKreduce' in name:
        return 'products'
    if name.startswith('norm_fwd_kernel<256'):
        return 'norms'
    if name.startswith('norm_fwd_kernel<64'):
        return 'head norm'
    if name.startswith('qkvg_split'):
        return 'split'
    if name.startswith('ew_kernel'):
        return 'act'
    if name.startswith('pstep_kernel'):
        return 'persistent'
    return 'other'


def main():
    path = sys.argv[1]
    nsteps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    ks = load(path)
    bounds = step_bounds(ks, nsteps)
    if not bounds:
        sys.exit(f'fewer than two steps in {path}')
    add = collections.defaultdict(float)
    span = 0.0
    for a, b in bounds:
        step = ks[a:b]
        end = step[0][0]
        for s, e, _, name in step:
            if e > end:
                add[kind(name)] += (e - end) / 1e3
                end = e
        span += (end - step[0][0]) / 1e3
    n = len(bounds)
    print(f'{path}: {n} steps, {span / n:.1f} us a step')
    for k, v in sorted(add.items(), key=lambda kv: -kv[1]):
        print(f'  {k:<10} {v / n:8.1f} us  {100 * v / span:5.1f}%')


if __name__ == '__main__':
    main()
