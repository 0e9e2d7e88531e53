#!/usr/bin/env python3
"""Prints the reference values that Tests/WrapperTests/StatisticsTests.swift compares KVCStatistics against.

Independent of GSL: numpy and scipy compute each number. Run with
    python3 scripts/statistics_reference_values.py
(needs `pip install numpy scipy`; the committed values came from numpy 2.4.6 / scipy 1.17.1).
"""
import numpy as np, scipy.stats as st
x=[2.5, 3.1, 4.7, 1.2, 5.5, 3.3, 2.2, 4.1]
print("mean",repr(np.mean(x)),"var",repr(np.var(x,ddof=1)),"sd",repr(np.std(x,ddof=1)),"median",repr(np.median(x)))
for p in [0,0.1,0.25,0.5,0.9,1]: print("q",p,repr(np.quantile(x,p)))
for k,n in [(0,10),(3,10),(10,10),(81,100),(1,1),(450,500)]:
    r=st.binomtest(k,n)
    w=r.proportion_ci(0.95,'wilson'); e=r.proportion_ci(0.95,'exact'); w9=r.proportion_ci(0.9,'wilson'); e9=r.proportion_ci(0.99,'exact')
    print("binom",k,n,"wilson95",repr(w.low),repr(w.high),"exact95",repr(e.low),repr(e.high),"wilson90",repr(w9.low),repr(w9.high),"exact99",repr(e9.low),repr(e9.high))
m=np.mean(x); se=st.sem(x)
print("tint95",[repr(v) for v in st.t.interval(0.95,len(x)-1,loc=m,scale=se)])
print("tint99",[repr(v) for v in st.t.interval(0.99,len(x)-1,loc=m,scale=se)])
a=[0.61,0.72,0.55,0.80,0.67,0.59,0.74,0.70]; b=[0.58,0.70,0.57,0.75,0.61,0.60,0.69,0.66]
r=st.ttest_rel(a,b); print("ttest_rel",repr(r.statistic),repr(r.pvalue))
ci=r.confidence_interval(0.95); print("ttest_rel ci",repr(ci.low),repr(ci.high))
for bb,cc in [(0,0),(1,0),(3,9),(10,2),(5,5),(20,40)]:
    print("mcnemar",bb,cc,repr(st.binomtest(bb,bb+cc,0.5).pvalue if bb+cc>0 else 1.0))
u=[1.0,2.0,3.0,4.0,5.0,6.0]; v=[2.0,1.0,4.0,3.0,7.0,5.0]
print("pearson",repr(st.pearsonr(u,v).statistic),"spearman",repr(st.spearmanr(u,v).statistic))
t1=[1,2,2,3,4,4,4,5]; t2=[3,1,2,2,5,4,6,6]
print("ties pearson",repr(st.pearsonr(t1,t2).statistic),"spearman",repr(st.spearmanr(t1,t2).statistic))
