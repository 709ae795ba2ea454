/* What every ringspec C reproducer starts with: the scratch filesystems in a
 * private mount namespace, and io_uring through its system calls
 * (io_uring_setup, io_uring_enter, io_uring_register, mmap; no liburing). */
#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wunused-function"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_io_uring_enter
#define SYS_io_uring_enter 426
#endif
#ifndef SYS_io_uring_register
#define SYS_io_uring_register 427
#endif

/* Exit codes. */
#define RS_FIXED 0        /* every outcome and the final state as the model allows */
#define RS_BUG 1          /* an outcome or the final state outside the model's set */
#define RS_CANNOT_JUDGE 2 /* set-up failed, or the kernel took another allowed path */

/* ---- the scratch area -------------------------------------------------- */

static int rs_root = -1, rs_other = -1;
static char rs_base[4096];

static void rs_die(const char *what)
{
	printf("CANNOT JUDGE: %s: %s\n", what, strerror(errno));
	exit(RS_CANNOT_JUDGE);
}

/* A filesystem of this type mounted (nodev, nosuid) on `dir`: a tmpfs, or a
 * loop-mounted image made with `mkfs` (RS_MKFS). */
static void rs_mount(const char *dir, const char *fstype, const char *mkfs, int i)
{
	char img[4200], cmd[8800], dev[64];
	int ctl, devfd, imgfd, n;
	struct loop_config cfg;
	if (mkdir(dir, 0755) < 0)
		rs_die("mkdir");
	if (!mkfs) {
		if (mount("ringspec", dir, "tmpfs", MS_NODEV | MS_NOSUID, RS_TMPFS_OPTIONS) < 0)
			rs_die("mount tmpfs");
		return;
	}
	snprintf(img, sizeof(img), "%s/%d.img", rs_base, i);
	imgfd = open(img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (imgfd < 0 || ftruncate(imgfd, RS_IMAGE_SIZE) < 0)
		rs_die("image");
	snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", mkfs, img);
	if (system(cmd) != 0) {
		printf("CANNOT JUDGE: `%s` failed (is its package installed?)\n", cmd);
		exit(RS_CANNOT_JUDGE);
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		rs_die("/dev/loop-control");
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n < 0)
		rs_die("LOOP_CTL_GET_FREE");
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	devfd = open(dev, O_RDWR | O_CLOEXEC);
	if (devfd < 0)
		rs_die(dev);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = imgfd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	if (ioctl(devfd, LOOP_CONFIGURE, &cfg) < 0)
		rs_die("LOOP_CONFIGURE");
	close(imgfd);
	unlink(img);
	if (mount(dev, dir, fstype, MS_NODEV | MS_NOSUID, NULL) < 0)
		rs_die("mount");
	close(devfd); /* autoclear: the device goes with the mount */
	close(ctl);
	chmod(dir, 0755);
}

/* The scratch area: a directory made in `parent`, in a private mount
 * namespace, holding `main` and `other` (two filesystems: EXDEV between
 * them) with a `repro` directory in each as the roots. */
static void rs_setup(const char *parent)
{
	char p[4200];
	int i;
	if (geteuid() != 0) {
		printf("CANNOT JUDGE: run as root (the reproducer mounts its own filesystems "
		       "in a private mount namespace)\n");
		exit(RS_CANNOT_JUDGE);
	}
	if (unshare(CLONE_NEWNS | CLONE_FS) < 0)
		rs_die("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		rs_die("mount --make-rprivate /");
	snprintf(rs_base, sizeof(rs_base), "%s/ringspec-repro-XXXXXX", parent);
	if (!mkdtemp(rs_base))
		rs_die("mkdtemp");
	for (i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", rs_base, i ? "other" : "main");
		rs_mount(p, RS_FSTYPE, RS_MKFS, i);
		snprintf(p, sizeof(p), "%s/%s/repro", rs_base, i ? "other" : "main");
		if (mkdir(p, 0755) < 0 || chmod(p, 0755) < 0)
			rs_die("mkdir root");
		if ((i ? (rs_other = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
		       : (rs_root = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC))) < 0)
			rs_die("open root");
	}
	umask(022);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	printf("scratch: %s (%s)\n", rs_base, RS_FSTYPE);
}

/* The mounts vanish with the private namespace; the directory is removed. */
static void rs_teardown(void)
{
	char p[4200];
	int i;
	for (i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", rs_base, i ? "other" : "main");
		umount2(p, MNT_DETACH);
		rmdir(p);
	}
	rmdir(rs_base);
}

static unsigned char *rs_zeroed(long long n)
{
	unsigned char *b = calloc(n ? n : 1, 1);
	if (!b)
		rs_die("calloc");
	return b;
}

/* A writable copy of n bytes (the kernel may write into SQE buffers). */
/* ---- io_uring through its system calls --------------------------------- */

/* struct io_uring_sqe (include/uapi/linux/io_uring.h), the members named
 * after the union member ringspec's SQE table uses. */
struct rs_sqe {
	uint8_t opcode, flags;
	uint16_t ioprio;
	int32_t fd;
	uint64_t off; /* off, addr2 */
	uint64_t addr; /* addr, splice_off_in */
	uint32_t len;
	uint32_t op_flags; /* rw_flags, open_flags, splice_flags, ... */
	uint64_t user_data;
	uint16_t buf_index, personality;
	int32_t splice_fd_in; /* splice_fd_in, file_index */
	uint64_t addr3, pad;
};
_Static_assert(sizeof(struct rs_sqe) == 64, "struct io_uring_sqe is 64 bytes");

struct rs_sqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
	uint64_t user_addr;
};
struct rs_cqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
	uint64_t user_addr;
};
struct rs_params {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd,
		resv[3];
	struct rs_sqring_offsets sq_off;
	struct rs_cqring_offsets cq_off;
};
struct rs_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};
struct rs_getevents_arg {
	uint64_t sigmask;
	uint32_t sigmask_sz, min_wait_usec;
	uint64_t ts;
};

#define RS_SETUP_SUBMIT_ALL (1u << 7)
#define RS_ENTER_GETEVENTS 1u
#define RS_ENTER_EXT_ARG (1u << 3)
#define RS_OP_ASYNC_CANCEL 14
#define RS_CANCEL_TAG (1ull << 63)

static int rs_ring = -1;
static unsigned char *rs_sq, *rs_cq, *rs_sqes;
static struct rs_params rs_p;

/* A ring of `entries` with IORING_SETUP_SUBMIT_ALL where the kernel has it
 * (5.18+) and `flags`, its rings and SQE array mapped. */
static void rs_ring_open(unsigned entries, unsigned flags, unsigned sq_thread_idle)
{
	size_t sq_len, cq_len;
	memset(&rs_p, 0, sizeof(rs_p));
	rs_p.flags = RS_SETUP_SUBMIT_ALL | flags;
	rs_p.sq_thread_idle = sq_thread_idle;
	rs_ring = (int)syscall(SYS_io_uring_setup, entries, &rs_p);
	if (rs_ring < 0 && errno == EINVAL) {
		memset(&rs_p, 0, sizeof(rs_p));
		rs_p.flags = flags;
		rs_p.sq_thread_idle = sq_thread_idle;
		rs_ring = (int)syscall(SYS_io_uring_setup, entries, &rs_p);
	}
	if (rs_ring < 0)
		rs_die("io_uring_setup");
	sq_len = rs_p.sq_off.array + rs_p.sq_entries * sizeof(uint32_t);
	cq_len = rs_p.cq_off.cqes + rs_p.cq_entries * sizeof(struct rs_cqe);
	if (rs_p.features & 1 /* IORING_FEAT_SINGLE_MMAP */) {
		if (cq_len > sq_len)
			sq_len = cq_len;
		cq_len = sq_len;
	}
	rs_sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, rs_ring, 0);
	if (rs_sq == MAP_FAILED)
		rs_die("mmap SQ ring");
	if (rs_p.features & 1)
		rs_cq = rs_sq;
	else if ((rs_cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			       rs_ring, 0x8000000)) == MAP_FAILED)
		rs_die("mmap CQ ring");
	rs_sqes = mmap(NULL, rs_p.sq_entries * 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       rs_ring, 0x10000000);
	if (rs_sqes == MAP_FAILED)
		rs_die("mmap SQEs");
}

#define RS_U32(base, off) ((volatile uint32_t *)((base) + (off)))

static void rs_push(const struct rs_sqe *sqe, uint64_t user_data)
{
	uint32_t tail = *RS_U32(rs_sq, rs_p.sq_off.tail);
	uint32_t idx = tail & *RS_U32(rs_sq, rs_p.sq_off.ring_mask);
	struct rs_sqe s = *sqe;
	s.user_data = user_data;
	memcpy(rs_sqes + idx * 64, &s, 64);
	RS_U32(rs_sq, rs_p.sq_off.array)[idx] = idx;
	__atomic_store_n(RS_U32(rs_sq, rs_p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
}


/* Milliseconds since `t0` (CLOCK_MONOTONIC). */
static long rs_ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* io_uring_enter: submits `to_submit` and waits up to `ms` for a CQE
 * (IORING_ENTER_EXT_ARG), `flags` or-ed in. */
static long rs_enter_wait(unsigned to_submit, long ms, unsigned flags)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	struct rs_getevents_arg arg;
	memset(&arg, 0, sizeof(arg));
	arg.sigmask_sz = 8;
	arg.ts = (uint64_t)(uintptr_t)&ts;
	return syscall(SYS_io_uring_enter, rs_ring, to_submit, 1,
		       RS_ENTER_GETEVENTS | RS_ENTER_EXT_ARG | flags, &arg, sizeof(arg));
}

/* The next CQE, if one is there (consumed). */
static int rs_cq_pop(struct rs_cqe *out)
{
	uint32_t head = *RS_U32(rs_cq, rs_p.cq_off.head);
	uint32_t tail = __atomic_load_n(RS_U32(rs_cq, rs_p.cq_off.tail), __ATOMIC_ACQUIRE);
	if (head == tail)
		return 0;
	*out = ((struct rs_cqe *)(rs_cq + rs_p.cq_off.cqes))[head & *RS_U32(rs_cq, rs_p.cq_off.ring_mask)];
	__atomic_store_n(RS_U32(rs_cq, rs_p.cq_off.head), head + 1, __ATOMIC_RELEASE);
	return 1;
}

