#!/usr/bin/env python3
# dev/cuda/mega_trace.py: a mega_lab TRACE file (MEGA_TRACE_FILE) read back: the consumers' time
# between consecutive stamps, us a layer averaged over blocks, largest first (the thirty-sixth
# session's per-layer figures). SSEG=1: the state's segment after k (FIX 16), SSEG=2: after g (FIX 64).
# Usage: python3 dev/cuda/mega_trace.py trace.bin
import sys, array
from collections import defaultdict
NB, TR_N, TR_P, TR_W = 128, 4096, 2048, 3072
f = open(sys.argv[1], 'rb').read()
A=array.array('I'); A.frombytes(f[:NB*3*4])
G=array.array('I'); G.frombytes(f[NB*3*4:NB*3*4+NB*TR_N*4])
T=array.array('Q'); T.frombytes(f[NB*3*4+NB*TR_N*4:])
names = {1:'CWAIT',2:'CREADY',3:'MEET0',4:'MEET1',5:'HEAD0',6:'HEAD1',7:'SEG0',8:'SEG1',9:'DRAIN',10:'PWAIT',11:'ISSUE',12:'LAND',13:'END',14:'BEGIN',15:'ARR',16:'SEEN',17:'NORM0',18:'NORM1',19:'Z0',20:'Z1',21:'RED',22:'SEGS'}
import os
kinds = (['q','k','v','v','g','g','S'] if os.environ.get('SSEG')=='2' else ['q','k','S','v','v','g','g']) + ['wo','wo','up','up','gate','gate','down','down'] if os.environ.get('SSEG') else ['q','k','v','v','g','g','wo','wo','up','up','gate','gate','down','down']
segn = ['q','k','v','g','wo','up','gate','down','S']
L = 24
acc = defaultdict(float)
for b in range(NB):
    nc = A[3*b]; g = G[TR_N*b:TR_N*b+nc]; t = T[TR_N*b:TR_N*b+nc]
    def lab(k):
        c = g[k]>>24; v = g[k]&0xffffff
        n = names[c]
        if c in (1,2,9): n += '(' + (kinds[v%len(kinds)] if v < L*len(kinds) else 'out') + ')'
        if c in (3,4,7,8,15,16,21,22): n += '(' + segn[v%8] + ')'
        return n
    for k in range(nc-1):
        acc[(lab(k), lab(k+1))] += (t[k+1]-t[k])/1e3
tot = sum(acc.values())/NB
print(f"consumer (thread 0) time between consecutive records, us per layer (all {L} layers + the head, averaged over blocks); total {tot:.1f} us")
for (a,b_),v in sorted(acc.items(), key=lambda kv:-kv[1]):
    if v/NB/L > 0.05: print(f"  {a:14s} -> {b_:14s} {v/NB/L:6.2f}")
