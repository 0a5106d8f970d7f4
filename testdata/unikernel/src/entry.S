/*
 * entry.S - boot stub of the urunc test unikernel.
 *
 * The image is an ELF64 file built with plain 64-bit gcc (no gcc-multilib
 * needed). qemu boots it through the Xen PVH ELF note: the entry point is
 * reached in 32-bit protected mode with paging off, %ebx = physical address
 * of the hvm_start_info structure. This stub identity-maps the low 4 GiB
 * with 2 MiB pages, switches to long mode and calls kmain(magic, info).
 * A multiboot1 loader (eax = 0x2BADB002, ebx = multiboot info) is
 * understood as well; kmain tells the two apart by the PVH magic stored at
 * the start of the structure ebx points to (qboot on microvm leaves
 * eax = 0x2BADB002 even on the PVH path).
 */

#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* namesz: "Xen\0" */
	.long 4				/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long pvh_start32

	.section .boot, "ax", @progbits
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	movl	%eax, %edi		/* boot magic, first kmain argument */
	movl	%ebx, %esi		/* info pointer, second kmain argument */

	/* Zero .bss (page tables and stack live there). */
	movl	$__bss_start, %ebp
	movl	$__bss_end, %ecx
	subl	%ebp, %ecx
	shrl	$2, %ecx
	xchgl	%ebp, %edi
	xorl	%eax, %eax
	rep stosl
	movl	%ebp, %edi

	/* PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3; PDn: 2 MiB pages. */
	movl	$pdpt, %eax
	orl	$0x3, %eax
	movl	%eax, pml4
	movl	$pd, %eax
	orl	$0x3, %eax
	movl	%eax, pdpt
	addl	$0x1000, %eax
	movl	%eax, pdpt + 8
	addl	$0x1000, %eax
	movl	%eax, pdpt + 16
	addl	$0x1000, %eax
	movl	%eax, pdpt + 24
	xorl	%ecx, %ecx
1:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$0x83, %eax		/* present | writable | 2 MiB */
	movl	%eax, pd(,%ecx,8)
	movl	%ecx, %eax
	shrl	$11, %eax		/* bits 32.. of the physical address */
	movl	%eax, pd + 4(,%ecx,8)
	incl	%ecx
	cmpl	$2048, %ecx
	jne	1b

	lgdt	gdt_desc
	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$0xC0000080, %ecx	/* EFER */
	rdmsr
	orl	$0x100, %eax		/* LME */
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	ljmp	$0x08, $start64

	.code64
start64:
	movl	$0x10, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	stack_top(%rip), %rsp
	call	kmain
2:	cli
	hlt
	jmp	2b

/* Interrupt entry points used by main.c (64-bit IDT gates). */
	.text
	.globl	isr_timer, isr_ignore, isr_fault
isr_timer:				/* PIT IRQ0 */
	pushq	%rax
	lock incq ticks(%rip)
	movb	$0x20, %al
	outb	%al, $0x20		/* EOI to the master PIC */
	popq	%rax
	iretq
isr_ignore:				/* spurious PIC interrupts */
	iretq
isr_fault:				/* CPU exceptions */
	andq	$-16, %rsp
	call	fault
3:	cli
	hlt
	jmp	3b

	.section .rodata
	.balign 8
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: data */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt

	.bss
	.balign 4096
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4 * 4096
	.balign 16
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
