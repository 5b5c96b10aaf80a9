#!/usr/bin/env python3
"""trace_steps.py (lab): a decoding step's kernels as the GPU ran them, from trace_inject.c's
CSV. Steps begin at each embed_kernel (or the persistent step's kernel); of the last `steps` complete ones (default 3) it
prints, for the last, every kernel with its start (us from the step's start), duration and the
gap from the end of the kernel before (negative: they overlapped, programmatic dependent
launch); then, over those steps, per kernel name: count a step, mean duration, mean gap; and
the step's span against the time some kernel was running (the union of the kernels' spans).

    python3 trace_steps.py trace.csv [steps] [rows to print]
"""
import collections
import re
import sys


def short(name):
    """base<int and bool template arguments> of a mangled kernel name"""
    if 'pstep_kernel' in name:  # decode_persistent.cu's, in an anonymous namespace
        return 'pstep_kernel'
    m = re.match(r'_Z(\d+)(\w+)', name)
    if not m:
        return name[:48]
    n = int(m.group(1))
    base, rest = m.group(2)[:n], m.group(2)[n:]
    args = []
    if rest.startswith('I'):
        rest = rest[1:]
        while True:
            t = re.match(r'L[ib](-?\d+)E', rest)
            if not t:
                break
            args.append(t.group(1))
            rest = rest[t.end():]
    return base + (f'<{",".join(args)}>' if args else '')


def load(path):
    """trace_inject.c's records, by start: (start ns, end ns, grid, short name)"""
    ks = []
    for line in open(path):
        p = line.rstrip('\n').split(',', 4)
        if len(p) < 5:
            continue
        ks.append((int(p[0]), int(p[1]), int(p[3]), short(p[4])))
    ks.sort()
    return ks


def step_bounds(ks, nsteps):
    """the last nsteps complete steps' (first, past-last) indices into ks: a step begins at
    each embed_kernel (or the persistent step's kernel)"""
    starts = [i for i, k in enumerate(ks) if k[3].startswith(('embed_kernel', 'pstep_kernel'))]
    return list(zip(starts[:-1], starts[1:]))[-nsteps:]


def main():
    path = sys.argv[1]
    nsteps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    ks = load(path)
    bounds = step_bounds(ks, nsteps)
    if not bounds:
        print('fewer than two steps in', path)
        return
    per = collections.defaultdict(lambda: [0, 0.0, 0.0])
    spans, busys = [], []
    for si, (a, b) in enumerate(bounds):
        step = ks[a:b]
        t0 = step[0][0]
        span = (max(k[1] for k in step) - t0) / 1e3
        busy, cur_s, cur_e = 0.0, None, None
        for k in step:
            if cur_e is None or k[0] > cur_e:
                if cur_e is not None:
                    busy += cur_e - cur_s
                cur_s, cur_e = k[0], k[1]
            else:
                cur_e = max(cur_e, k[1])
        busy += cur_e - cur_s
        spans.append(span)
        busys.append(busy / 1e3)
        prev_end = None
        for k in step:
            gap = (k[0] - prev_end) / 1e3 if prev_end is not None else 0.0
            e = per[k[3]]
            e[0] += 1
            e[1] += (k[1] - k[0]) / 1e3
            e[2] += gap
            prev_end = k[1] if prev_end is None else max(prev_end, k[1])
        if si == len(bounds) - 1:
            print(f'last step: {len(step)} kernels, span {span:.1f} us, some kernel running '
                  f'{busy / 1e3:.1f} us')
            print(f'{"start":>8} {"dur":>7} {"gap":>6}  grid  kernel')
            prev_end = None
            for k in step[:rows]:
                gap = (k[0] - prev_end) / 1e3 if prev_end is not None else 0.0
                print(f'{(k[0] - t0) / 1e3:8.1f} {(k[1] - k[0]) / 1e3:7.2f} {gap:6.2f} '
                      f'{k[2]:5d}  {k[3]}')
                prev_end = k[1] if prev_end is None else max(prev_end, k[1])
    n = len(bounds)
    print(f'\nover {n} steps: span {sum(spans) / n:.1f} us, some kernel running '
          f'{sum(busys) / n:.1f} us; per kernel (count a step, mean us, mean gap before it):')
    for name, (c, d, g) in sorted(per.items(), key=lambda kv: -kv[1][1]):
        print(f'  {c / n:6.1f} x {d / c:7.2f} us  gap {g / c:6.2f}  total {d / n:8.1f} us  {name}')


if __name__ == '__main__':
    main()
