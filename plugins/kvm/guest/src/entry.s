# Entry points, interrupt stubs and the PVH boot data of the test guest
# (included by arch.rs with global_asm!, Intel syntax).
#
# _start: the 64-bit Linux boot protocol as wirt-vmm enters it: long mode on
#   the VMM's identity map, CS = 0x08, rsi = zero page.
# pvh_start: QEMU's PVH entry (ELF note below): 32-bit protected mode,
#   paging off, ebx = hvm_start_info.
# Both call guest_main(zero_page, pvh_start_info); the one not used is 0.

    .section .text.entry, "ax"
    .code64
    .global _start
_start:
    cli
    mov rdi, rsi
    xor esi, esi
    jmp 2f
pvh_long:
    xor edi, edi
    mov esi, ebx
2:  lea rsp, [rip + STACK_TOP]
    xor ebp, ebp
    call guest_main
3:  cli
    hlt
    jmp 3b

# Exceptions: report the vector and stop (guest_exception never returns).
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
exc_stub_\n:
    mov edi, \n
    and rsp, -16
    call guest_exception
.endr

# Interrupts only record their line in IRQ_PENDING and acknowledge the PIC:
# all work happens in the main loop, which runs with interrupts off and
# enables them only inside "sti; hlt". One `or` is atomic on this CPU.
.irp n, 0,1,2,3,4,5,6,7
irq_stub_\n:
    push rax
    or dword ptr [rip + IRQ_PENDING], 1 << \n
    mov al, 0x20
    out 0x20, al
    pop rax
    iretq
.endr
.irp n, 8,9,10,11,12,13,14,15
irq_stub_\n:
    push rax
    or dword ptr [rip + IRQ_PENDING], 1 << \n
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    pop rax
    iretq
.endr

# QEMU's PVH boot (through qboot on microvm) enters here. The page tables
# and the GDT are static data, so reaching long mode costs a dozen
# instructions rather than a loop over 2048 entries.
    .code32
pvh_start:
    cli
    mov eax, offset pvh_pml4
    mov cr3, eax
    mov eax, cr4
    or eax, 0x20                   # PAE
    mov cr4, eax
    mov ecx, 0xc0000080            # EFER
    rdmsr
    or eax, 0x100                  # LME
    wrmsr
    # QEMU leaves LINT0 masked (wirt-vmm sets it to ExtINT): turn the local
    # APIC off so that the PIC's interrupts reach the CPU directly.
    mov ecx, 0x1b                  # IA32_APIC_BASE
    rdmsr
    and eax, 0xfffff7ff            # clear the global enable
    wrmsr
    mov eax, cr0
    or eax, 0x80000001             # PG | PE
    mov cr0, eax
    lgdt [pvh_gdtr]
    # iretq reloads ss with whatever selector is current: make it ours.
    mov eax, 0x10
    mov ds, eax
    mov es, eax
    mov ss, eax
    # ljmp 0x08:pvh_long, spelled out (ptr16:32) to stay in Intel syntax.
    .byte 0xea
    .long pvh_long
    .word 0x08
    .code64

# The PVH entry note: QEMU reads the descriptor as a size_t, so 8 bytes (as
# in Linux); linux-loader takes its low 4 bytes. wirt-vmm enters at _start.
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                        # namesz
    .long 8                        # descsz
    .long 18                       # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .quad pvh_start

    .section .data.guest_entry, "aw"
    .balign 8
    .global IDT_HANDLERS
IDT_HANDLERS:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exc_stub_\n
.endr
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .quad irq_stub_\n
.endr

# PVH boot only: GDT (null, 0x08 64-bit code as the IDT assumes, 0x10 flat
# data) and page tables identity-mapping the first 4 GiB in 2 MiB pages
# (RAM, and the virtio-mmio windows below 4 GiB).
    .balign 8
pvh_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
pvh_gdtr:
    .word 3 * 8 - 1
    .long pvh_gdt
    .balign 4096
pvh_pml4:
    .quad pvh_pdpt + 3             # present, writable
    .fill 511, 8, 0
pvh_pdpt:
    .quad pvh_pd + 3, pvh_pd + 0x1003, pvh_pd + 0x2003, pvh_pd + 0x3003
    .fill 508, 8, 0
pvh_pd:
    .set pvh_addr, 0
    .rept 2048
    .quad pvh_addr + 0x83          # present, writable, 2 MiB page
    .set pvh_addr, pvh_addr + 0x200000
    .endr

    .section .bss.guest_stack, "aw", @nobits
    .balign 4096
    .skip 131072
STACK_TOP:

    .text
