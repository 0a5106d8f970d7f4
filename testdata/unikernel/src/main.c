/*
 * main.c - the urunc test/demo unikernel.
 *
 * Freestanding, no libc. Prints on COM1 (0x3f8):
 *   Hello from the urunc test unikernel
 *   cmdline: <kernel command line>
 *   echo: WORD            for every echo=WORD on the command line
 * then, depending on the command line:
 *   heartbeat  print "heartbeat N" once per second forever (PIT IRQ0 at
 *              100 Hz through the 8259 + hlt: real time, no busy loop, the
 *              guest stays idle; needs the PIT and PIC, which -M pc and
 *              -M microvm have by default: do not pass pit=off/pic=off)
 *   exit=N     print "bye", outb N to isa-debug-exit (port 0xf4):
 *              qemu exits with status (N<<1)|1
 *   (neither)  print "bye" and triple-fault: qemu -no-reboot exits 0
 */
#include <stdint.h>

#define PVH_MAGIC 0x336ec578u
#define MULTIBOOT_MAGIC 0x2BADB002u
#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4
#define PIT_HZ 100

volatile uint64_t ticks;	/* incremented by isr_timer (entry.S) */

void isr_timer(void);
void isr_ignore(void);
void isr_fault(void);

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_serial(char c)
{
	int spins = 0;

	/* Wait for THR empty (bounded: an absent UART reads 0xff anyway). */
	while (!(inb(COM1 + 5) & 0x20) && ++spins < 100000)
		;
	outb(COM1, (uint8_t)c);
}

static void puts_serial(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s);
	}
}

static void putn(const char *s, int n)
{
	while (n-- > 0 && *s)
		putc_serial(*s++);
}

static void putu(uint64_t v)
{
	char buf[21];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_serial(&buf[i]);
}

static void serial_init(void)
{
	outb(COM1 + 1, 0x00);	/* no interrupts */
	outb(COM1 + 3, 0x80);	/* DLAB */
	outb(COM1 + 0, 0x01);	/* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);	/* 8N1 */
	outb(COM1 + 2, 0x07);	/* FIFO on, cleared */
	outb(COM1 + 4, 0x03);	/* DTR | RTS */
}

/*
 * Triple fault: empty IDT, then an exception; qemu -no-reboot exits 0.
 * ud2, not int3: under the nested PVM KVM an int3 with an empty IDT ends in
 * "KVM internal error ... emulation failure" and qemu hangs instead.
 */
static void __attribute__((noreturn)) reset(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = { 0, 0 };

	__asm__ volatile("cli; lidt %0; ud2" : : "m"(idtr));
	for (;;)
		__asm__ volatile("hlt");
}

static void __attribute__((noreturn)) do_exit(int code)
{
	puts_serial("bye\n");
	if (code >= 0)
		outb(DEBUG_EXIT_PORT, (uint8_t)code);
	/* No isa-debug-exit device (or clean exit requested): reset. */
	reset();
}

void __attribute__((noreturn)) fault(void)
{
	puts_serial("\npanic: CPU exception\n");
	outb(DEBUG_EXIT_PORT, 127);	/* qemu status 255 */
	reset();
}

/* --- command line --- */

static int word_len(const char *s)
{
	int n = 0;

	while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n')
		n++;
	return n;
}

static int has_prefix(const char *w, int wl, const char *p)
{
	int i;

	for (i = 0; p[i]; i++)
		if (i >= wl || w[i] != p[i])
			return 0;
	return i;
}

/* --- interrupts: PIT IRQ0 through the 8259 PIC --- */

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));

static void set_gate(int v, void (*fn)(void))
{
	uint64_t a = (uint64_t)fn;

	idt[v].off0 = (uint16_t)a;
	idt[v].sel = 0x08;
	idt[v].ist = 0;
	idt[v].type = 0x8e;	/* present, interrupt gate */
	idt[v].off1 = (uint16_t)(a >> 16);
	idt[v].off2 = (uint32_t)(a >> 32);
	idt[v].zero = 0;
}

static void timer_init(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = { sizeof(idt) - 1, (uint64_t)idt };
	uint16_t div = 1193182 / PIT_HZ;
	uint32_t lo, hi;
	int v;

	for (v = 0; v < 32; v++)
		set_gate(v, isr_fault);
	for (v = 32; v < 256; v++)
		set_gate(v, isr_ignore);
	set_gate(32, isr_timer);
	__asm__ volatile("lidt %0" : : "m"(idtr));

	/* 8259: remap to 0x20/0x28, mask everything but IRQ0. */
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xfe);
	outb(0xa1, 0xff);

	/*
	 * qboot (microvm) leaves the local APIC software-disabled with LINT0
	 * masked, so 8259 interrupts never reach the CPU; SeaBIOS (pc) sets
	 * it up. Enable the APIC and make LINT0 ExtINT (virtual wire mode).
	 */
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x1b));
	if (lo & (1u << 11)) {	/* APIC globally enabled */
		volatile uint32_t *lapic = (volatile uint32_t *)(uint64_t)(lo & 0xfffff000u);
		lapic[0xf0 / 4] = 0x1ff;	/* SVR: enabled, spurious vector 0xff */
		lapic[0x350 / 4] = 0x700;	/* LVT0: ExtINT */
	}

	/* PIT channel 0, lo/hi byte, mode 2 (rate generator). */
	outb(0x43, 0x34);
	outb(0x40, (uint8_t)div);
	outb(0x40, (uint8_t)(div >> 8));
}

static void __attribute__((noreturn)) heartbeat(void)
{
	uint64_t n = 0, next = PIT_HZ;

	timer_init();
	for (;;) {
		/* sti's interrupt shadow covers hlt: no lost wake-up. */
		__asm__ volatile("sti; hlt; cli" : : : "memory");
		if (ticks >= next) {
			next += PIT_HZ;
			puts_serial("heartbeat ");
			putu(++n);
			puts_serial("\n");
		}
	}
}

void __attribute__((noreturn)) kmain(uint32_t magic, uint64_t info)
{
	const char *cmdline = "";
	const char *p;
	int beat = 0, code = -1;

	serial_init();
	if (info && *(volatile uint32_t *)info == PVH_MAGIC) {
		uint64_t pa = *(volatile uint64_t *)(info + 24);	/* cmdline_paddr */
		if (pa)
			cmdline = (const char *)pa;
	} else if (magic == MULTIBOOT_MAGIC && info) {
		uint32_t flags = *(volatile uint32_t *)info;
		uint32_t pa = *(volatile uint32_t *)(info + 16);
		if ((flags & 4) && pa)
			cmdline = (const char *)(uint64_t)pa;
	}

	puts_serial("Hello from the urunc test unikernel\n");
	puts_serial("cmdline: ");
	puts_serial(cmdline);
	puts_serial("\n");

	for (p = cmdline; *p;) {
		int wl = word_len(p), k;

		if (wl == 0) {
			p++;
			continue;
		}
		if (wl == 9 && has_prefix(p, wl, "heartbeat")) {
			beat = 1;
		} else if ((k = has_prefix(p, wl, "exit=")) && k < wl) {
			int v = 0, i;
			for (i = k; i < wl && p[i] >= '0' && p[i] <= '9'; i++)
				v = v * 10 + (p[i] - '0');
			if (i == wl && v <= 127)
				code = v;
		} else if ((k = has_prefix(p, wl, "echo="))) {
			puts_serial("echo: ");
			putn(p + k, wl - k);
			puts_serial("\n");
		}
		p += wl;
	}

	if (code >= 0)
		do_exit(code);
	if (beat)
		heartbeat();
	do_exit(-1);
}
