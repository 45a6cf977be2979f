/* This CPU's bfloat16 and float32 peak: VDPBF16PS and VFMADD231PS on 512-bit registers, one thread per core.

    gcc -O2 -mavx512f -mavx512bf16 -pthread benchmarks/bf16_peak.c -o /tmp/bf16_peak && /tmp/bf16_peak 2

Each thread runs 24 independent accumulator chains (enough to hide the latency on any number of pipes)
for a fixed count of instructions; one VDPBF16PS on zmm is 16 lanes x 2 products x 2 FLOP = 64 FLOP,
one float32 FMA on zmm 32 FLOP. Prints one line each: GFLOP/s over all threads and per thread, and
the instructions retired per nanosecond per thread (= per cycle x GHz). The "peak" of a training step's
FLOP rate (benchmarks/op_profile.py) is the bf16 figure of all threads.
*/
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 24 /* the ACC list below */
#define ITERS 200000000L

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* 24 accumulators as separate variables (an array would be kept in memory: the loop then measures stores). */
#define ACC(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) \
    X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define DECLARE(i) __m512 acc##i = _mm512_set1_ps((float)i);
#define BF16_STEP(i) acc##i = _mm512_dpbf16_ps(acc##i, a, b);
#define FMA_STEP(i) acc##i = _mm512_fmadd_ps(a, b, acc##i);
#define SUM(i) sum += _mm512_reduce_add_ps(acc##i);

static void *bf16_loop(void *out) {
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x0001);
    ACC(DECLARE)
    for (long n = 0; n < ITERS; n++) {
        ACC(BF16_STEP)
    }
    float sum = 0;
    ACC(SUM)
    *(float *)out = sum;
    return NULL;
}

static void *fma_loop(void *out) {
    __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(1e-30f);
    ACC(DECLARE)
    for (long n = 0; n < ITERS; n++) {
        ACC(FMA_STEP)
    }
    float sum = 0;
    ACC(SUM)
    *(float *)out = sum;
    return NULL;
}

static void run(const char *name, void *(*loop)(void *), int threads, double flop_per_instruction) {
    pthread_t ids[64];
    float sums[64];
    double start = now();
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, loop, &sums[t]);
    for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    double seconds = now() - start, per_thread = (double)ITERS * CHAINS / seconds;
    printf("%s: %.1f GFLOP/s on %d threads (%.1f per thread, %.2f instructions/ns per thread; checksum %g)\n", name,
           per_thread * threads * flop_per_instruction / 1e9, threads, per_thread * flop_per_instruction / 1e9,
           per_thread / 1e9, (double)sums[0]);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 64) threads = 1;
    run("bf16 VDPBF16PS zmm", bf16_loop, threads, 64.0);
    run("f32  VFMADD231PS zmm", fma_loop, threads, 32.0);
    return 0;
}
