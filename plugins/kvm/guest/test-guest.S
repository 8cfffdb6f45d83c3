# wirt test guest: a freestanding x86-64 kernel for testing wirt-vmm.
#
# It is entered like a Linux kernel through the 64-bit boot protocol: long
# mode, the VMM's identity-mapped page tables, CS = 0x08, rsi = boot_params
# (unused). QEMU (-M microvm -kernel) enters it at pvh_start instead, through
# the PVH boot protocol (Xen ELF note): see the end of the text section.
# It stays in ring 0 and keeps its instruction count small, because a
# software KVM (PVM) emulates guest ring-0 code at about 0.5 us/instruction.
# See ../GUEST.md for what it prints and the commands it obeys.
#
# Interrupts: the legacy PIC (in-kernel, remapped to vectors 0x20-0x2f);
#   IRQ3 = wirt power-control port, IRQ4 = COM1, IRQ5+n = virtio-mmio slot n.
# Waiting is always "cli; check; sti; hlt" so an idle guest costs nothing.

    .intel_syntax noprefix
    .code64

    .set COM1, 0x3f8
    .set PVCTL, 0x500              # wirt power-control port (GUEST.md)
    .set PVCTL_POWEROFF, 0x01
    .set PVCTL_REBOOT, 0x02
    .set PVCTL_PANIC, 0x04
    .set PVCTL_HELLO, 0x10
    .set DEBUG_EXIT, 0xf4          # QEMU isa-debug-exit, used after a PVH boot
    .set MMIO_BASE, 0xd0000000
    .set MMIO_SLOTS, 8
    .set QSIZE, 8
    .set SECTOR_BYTES, 512

    # virtio-mmio registers
    .set VM_MAGIC, 0x000
    .set VM_VERSION, 0x004
    .set VM_DEVICE_ID, 0x008
    .set VM_DEV_FEAT, 0x010
    .set VM_DEV_FEAT_SEL, 0x014
    .set VM_DRV_FEAT, 0x020
    .set VM_DRV_FEAT_SEL, 0x024
    .set VM_QUEUE_SEL, 0x030
    .set VM_QUEUE_NUM_MAX, 0x034
    .set VM_QUEUE_NUM, 0x038
    .set VM_QUEUE_READY, 0x044
    .set VM_QUEUE_NOTIFY, 0x050
    .set VM_INT_STATUS, 0x060
    .set VM_INT_ACK, 0x064
    .set VM_STATUS, 0x070
    .set VM_QUEUE_DESC, 0x080
    .set VM_QUEUE_DRIVER, 0x090
    .set VM_QUEUE_DEVICE, 0x0a0
    .set VM_CONFIG, 0x100

    .set BLK_T_IN, 0
    .set BLK_T_OUT, 1
    .set BLK_T_FLUSH, 4
    .set BLK_T_GET_ID, 8

    .section .text
    .global _start
_start:
    cli
    lea rsp, [rip + stack_top]
    call idt_init
    call pic_init
    lea rsi, [rip + msg_banner]
    call puts
    call cpuid_report
    # Tell the VMM this guest obeys power-control requests (wirt only:
    # under QEMU port 0x500 is nobody's).
    cmp byte ptr [rip + pvh_boot], 0
    jne 1f
    mov dx, PVCTL
    mov al, PVCTL_HELLO
    out dx, al
1:
    # COM1: interrupt on received data; OUT2 gates the IRQ line on real UARTs.
    mov dx, COM1 + 1
    mov al, 0x01
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x08
    out dx, al
    sti
    call blk_init
    call blk_test
    lea rsi, [rip + msg_ready]
    call puts

main_loop:
    cli
    movzx eax, byte ptr [rip + pending_req]
    test eax, eax
    jnz do_request
    mov al, [rip + rx_tail]
    cmp al, [rip + rx_head]
    jne do_input
    sti
    hlt
    jmp main_loop

do_request:
    mov byte ptr [rip + pending_req], 0
    sti
    cmp eax, PVCTL_POWEROFF
    je cmd_poweroff
    cmp eax, PVCTL_REBOOT
    je cmd_reboot
    jmp main_loop

do_input:
    movzx ecx, al
    lea rdx, [rip + rx_buf]
    movzx eax, byte ptr [rdx + rcx]
    inc cl
    mov [rip + rx_tail], cl
    sti
    cmp al, 'p'
    je cmd_ping
    cmp al, 'b'
    je cmd_blk
    cmp al, 'r'
    je cmd_reboot
    cmp al, 'q'
    je cmd_poweroff
    cmp al, 'x'
    je cmd_crash
    jmp main_loop

cmd_ping:
    inc qword ptr [rip + ping_count]
    lea rsi, [rip + msg_pong]
    call puts
    mov rax, [rip + ping_count]
    call puthex
    call newline
    jmp main_loop

cmd_blk:
    call blk_test
    jmp main_loop

cmd_poweroff:
    lea rsi, [rip + msg_poweroff]
    call puts
    mov al, PVCTL_POWEROFF
    call power_write
    jmp halt_forever

cmd_reboot:
    lea rsi, [rip + msg_reboot]
    call puts
    mov al, 0xfe                   # i8042: pulse the CPU reset line
    out 0x64, al
    jmp halt_forever

cmd_crash:
    ud2

halt_forever:
    cli
    hlt
    jmp halt_forever

# power_write: al = power-control value (poweroff/panic). Under wirt it goes
# to the power-control port; after a PVH boot (QEMU) to isa-debug-exit, which
# ends QEMU with status (al << 1) | 1. Clobbers rdx.
power_write:
    mov dx, PVCTL
    cmp byte ptr [rip + pvh_boot], 0
    je 1f
    mov dx, DEBUG_EXIT
1:  out dx, al
    ret

# ---------------------------------------------------------------- console

# puts: rsi = NUL-terminated string. Clobbers rax, rdx, rsi.
puts:
    mov dx, COM1
1:  mov al, [rsi]
    test al, al
    jz 2f
    out dx, al
    inc rsi
    jmp 1b
2:  ret

newline:
    mov dx, COM1
    mov al, 10
    out dx, al
    ret

# puthex: rax = value, printed as 16 hex digits. Clobbers rax, rcx, rdx, r8.
puthex:
    mov r8, rax
    mov ecx, 16
    mov dx, COM1
1:  rol r8, 4
    mov eax, r8d
    and eax, 0xf
    cmp eax, 10
    jb 2f
    add eax, 'a' - 10 - '0'
2:  add eax, '0'
    out dx, al
    dec ecx
    jnz 1b
    ret

# cpuid_report: print the feature words the guest really sees, so the VMM's
# CPUID masking can be checked from inside.
cpuid_report:
    push rbx
    lea rsi, [rip + msg_cpuid1]
    call puts
    mov eax, 1
    xor ecx, ecx
    cpuid
    mov eax, ecx
    call puthex
    lea rsi, [rip + msg_cpuid7]
    call puts
    mov eax, 7
    xor ecx, ecx
    cpuid
    mov eax, ebx
    call puthex
    call newline
    pop rbx
    ret

# ------------------------------------------------------------- interrupts

idt_init:
    lea rdi, [rip + idt]
    lea rsi, [rip + idt_handlers]
    mov ecx, 48
1:  mov rax, [rsi]
    mov [rdi], ax
    mov word ptr [rdi + 2], 0x08           # code segment of the boot GDT
    mov word ptr [rdi + 4], 0x8e00         # present, DPL 0, interrupt gate
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword ptr [rdi + 12], 0
    add rdi, 16
    add rsi, 8
    dec ecx
    jnz 1b
    lidt [rip + idtr]
    ret

# The PIC is emulated inside KVM, so these writes never leave the kernel.
pic_init:
    mov al, 0x11                   # ICW1: edge triggered, cascade, ICW4
    out 0x20, al
    out 0xa0, al
    mov al, 0x20                   # ICW2: vector bases 0x20 and 0x28
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 0x04                   # ICW3: slave on IRQ2
    out 0x21, al
    mov al, 0x02
    out 0xa1, al
    mov al, 0x01                   # ICW4: 8086 mode
    out 0x21, al
    out 0xa1, al
    mov al, 0x03                   # unmask IRQ2-7 (pvctl, COM1, virtio 0-2)
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    ret

.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
exc_stub_\n:
    push \n
    jmp exc_common
.endr

exc_common:
    lea rsi, [rip + msg_exception]
    call puts
    pop rax
    call puthex
    call newline
    mov al, PVCTL_PANIC
    call power_write
    jmp halt_forever

irq_master:
    push rax
    mov al, 0x20
    out 0x20, al
    pop rax
    iretq

irq_slave:
    push rax
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    pop rax
    iretq

irq_pvctl:
    push rax
    push rdx
    mov dx, PVCTL
    in al, dx                      # reading takes the pending request
    test al, al
    jz 1f
    mov [rip + pending_req], al
1:  mov al, 0x20
    out 0x20, al
    pop rdx
    pop rax
    iretq

irq_serial:
    push rax
    push rcx
    push rdx
1:  mov dx, COM1 + 5               # LSR: data ready?
    in al, dx
    test al, 1
    jz 2f
    mov dx, COM1
    in al, dx
    movzx ecx, byte ptr [rip + rx_head]
    lea rdx, [rip + rx_buf]
    mov [rdx + rcx], al
    inc cl                         # 256-byte ring: the byte index wraps
    mov [rip + rx_head], cl
    jmp 1b
2:  mov al, 0x20
    out 0x20, al
    pop rdx
    pop rcx
    pop rax
    iretq

irq_virtio:
    push rax
    push rdx
    mov rdx, [rip + blk_base]
    test rdx, rdx
    jz 1f
    mov eax, [rdx + VM_INT_STATUS]
    mov [rdx + VM_INT_ACK], eax
1:  mov al, 0x20
    out 0x20, al
    pop rdx
    pop rax
    iretq

# --------------------------------------------------------------- virtio-blk

# blk_init: find the first virtio-blk device and bring its queue 0 up.
blk_init:
    push rbx
    mov ebx, MMIO_BASE
    xor ecx, ecx
1:  cmp dword ptr [rbx + VM_MAGIC], 0x74726976
    jne 8f
    cmp dword ptr [rbx + VM_DEVICE_ID], 2
    je 2f
    add rbx, 0x1000
    inc ecx
    cmp ecx, MMIO_SLOTS
    jb 1b
8:  lea rsi, [rip + msg_noblk]
    call puts
    pop rbx
    ret
2:  cmp dword ptr [rbx + VM_VERSION], 2
    jne 9f
    mov dword ptr [rbx + VM_STATUS], 0
    mov dword ptr [rbx + VM_STATUS], 1     # ACKNOWLEDGE
    mov dword ptr [rbx + VM_STATUS], 3     # DRIVER
    mov dword ptr [rbx + VM_DEV_FEAT_SEL], 1
    mov eax, [rbx + VM_DEV_FEAT]
    test eax, 1                            # VIRTIO_F_VERSION_1
    jz 9f
    mov dword ptr [rbx + VM_DEV_FEAT_SEL], 0
    mov eax, [rbx + VM_DEV_FEAT]
    and eax, 0x200                         # VIRTIO_BLK_F_FLUSH, if offered
    mov dword ptr [rbx + VM_DRV_FEAT_SEL], 0
    mov [rbx + VM_DRV_FEAT], eax
    mov dword ptr [rbx + VM_DRV_FEAT_SEL], 1
    mov dword ptr [rbx + VM_DRV_FEAT], 1
    mov dword ptr [rbx + VM_STATUS], 0xb   # FEATURES_OK
    test dword ptr [rbx + VM_STATUS], 8
    jz 9f
    mov dword ptr [rbx + VM_QUEUE_SEL], 0
    cmp dword ptr [rbx + VM_QUEUE_NUM_MAX], QSIZE
    jb 9f
    mov dword ptr [rbx + VM_QUEUE_NUM], QSIZE
    lea rax, [rip + vq_desc]
    mov [rbx + VM_QUEUE_DESC], eax
    shr rax, 32
    mov [rbx + VM_QUEUE_DESC + 4], eax
    lea rax, [rip + vq_avail]
    mov [rbx + VM_QUEUE_DRIVER], eax
    shr rax, 32
    mov [rbx + VM_QUEUE_DRIVER + 4], eax
    lea rax, [rip + vq_used]
    mov [rbx + VM_QUEUE_DEVICE], eax
    shr rax, 32
    mov [rbx + VM_QUEUE_DEVICE + 4], eax
    mov dword ptr [rbx + VM_QUEUE_READY], 1
    mov dword ptr [rbx + VM_STATUS], 0xf   # DRIVER_OK
    mov [rip + blk_base], rbx

    lea rsi, [rip + msg_capacity]
    call puts
    mov eax, [rbx + VM_CONFIG + 4]
    shl rax, 32
    mov ecx, [rbx + VM_CONFIG]
    or rax, rcx
    call puthex
    call newline

    mov edi, BLK_T_GET_ID
    xor r8d, r8d
    lea r9, [rip + id_buf]
    mov r10d, 20
    mov r11d, 3                            # NEXT | WRITE
    call blk_request
    test eax, eax
    jnz 7f
    lea rsi, [rip + msg_id]
    call puts
    lea rsi, [rip + id_buf]
    call puts
    call newline
    pop rbx
    ret
7:  call blk_error
    pop rbx
    ret
9:  lea rsi, [rip + msg_blkbad]
    call puts
    mov dword ptr [rbx + VM_STATUS], 0x80  # FAILED
    pop rbx
    ret

# blk_test: read sector 0, write its complement to sector 1, flush, read
# sector 1 back; print both checksums.
blk_test:
    cmp qword ptr [rip + blk_base], 0
    je 9f
    mov edi, BLK_T_IN
    xor r8d, r8d
    lea r9, [rip + data_buf]
    mov r10d, SECTOR_BYTES
    mov r11d, 3
    call blk_request
    test eax, eax
    jnz 8f
    lea rsi, [rip + msg_read]
    call puts
    lea rsi, [rip + data_buf]
    call checksum
    call puthex
    call newline

    lea rsi, [rip + data_buf]
    mov ecx, SECTOR_BYTES / 8
1:  not qword ptr [rsi]
    add rsi, 8
    dec ecx
    jnz 1b

    mov edi, BLK_T_OUT
    mov r8d, 1
    lea r9, [rip + data_buf]
    mov r10d, SECTOR_BYTES
    mov r11d, 1                            # NEXT: the device reads it
    call blk_request
    test eax, eax
    jnz 8f
    mov edi, BLK_T_FLUSH
    xor r8d, r8d
    xor r9d, r9d
    xor r10d, r10d
    mov r11d, 1
    call blk_request
    test eax, eax
    jnz 8f
    mov edi, BLK_T_IN
    mov r8d, 1
    lea r9, [rip + check_buf]
    mov r10d, SECTOR_BYTES
    mov r11d, 3
    call blk_request
    test eax, eax
    jnz 8f
    lea rsi, [rip + msg_wrote]
    call puts
    lea rsi, [rip + check_buf]
    call checksum
    call puthex
    call newline
9:  ret
8:  call blk_error
    ret

blk_error:
    push rax
    lea rsi, [rip + msg_blkerr]
    call puts
    pop rax
    call puthex
    call newline
    ret

# checksum: rsi = 512-byte buffer -> rax; h = rol(h, 7) + word, per qword.
checksum:
    xor eax, eax
    mov ecx, SECTOR_BYTES / 8
1:  rol rax, 7
    add rax, [rsi]
    add rsi, 8
    dec ecx
    jnz 1b
    ret

# blk_request: edi = type, r8 = sector, r9 = buffer, r10 = length (0: no
# data descriptor), r11 = data descriptor flags. Returns the status in eax.
# One request at a time, always descriptors 0-2.
blk_request:
    lea rax, [rip + req_hdr]
    mov [rax], edi
    mov dword ptr [rax + 4], 0
    mov [rax + 8], r8
    lea rdx, [rip + vq_desc]
    mov [rdx], rax
    mov dword ptr [rdx + 8], 16
    mov word ptr [rdx + 12], 1             # NEXT
    mov word ptr [rdx + 14], 1
    mov [rdx + 16], r9
    mov [rdx + 24], r10d
    mov [rdx + 28], r11w
    mov word ptr [rdx + 30], 2
    lea rax, [rip + req_status]
    mov byte ptr [rax], 0xff
    mov [rdx + 32], rax
    mov dword ptr [rdx + 40], 1
    mov word ptr [rdx + 44], 2             # WRITE
    mov word ptr [rdx + 46], 0
    test r10d, r10d
    jnz 1f
    mov word ptr [rdx + 14], 2             # no data: header -> status
1:  lea rdx, [rip + vq_avail]
    movzx eax, word ptr [rdx + 2]
    mov ecx, eax
    and ecx, QSIZE - 1
    mov word ptr [rdx + 4 + rcx * 2], 0
    inc eax
    mov [rdx + 2], ax
    mov rdx, [rip + blk_base]
    mov dword ptr [rdx + VM_QUEUE_NOTIFY], 0   # an ioeventfd in the VMM
2:  cli
    movzx eax, word ptr [rip + vq_used + 2]
    cmp ax, [rip + used_seen]
    jne 3f
    sti
    hlt
    jmp 2b
3:  sti
    mov [rip + used_seen], ax
    movzx eax, byte ptr [rip + req_status]
    ret

# --------------------------------------------------------------- PVH entry

# QEMU's PVH boot (from its firmware, qboot on microvm) enters here: 32-bit
# protected mode, paging off, flat segments, ebx = hvm_start_info (unused).
# The page tables and the GDT are static data, so getting to long mode costs
# a dozen instructions rather than a loop over 2048 entries.
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
    and eax, ~0x800                # global enable
    wrmsr
    mov eax, cr0
    or eax, 0x80000001             # PG | PE
    mov cr0, eax
    lgdt [pvh_gdtr]
    # iretq later reloads ss with whatever selector is current: make it one
    # of our GDT's, not the firmware's.
    mov eax, 0x10
    mov ds, eax
    mov es, eax
    mov ss, eax
    .att_syntax prefix
    ljmp $0x08, $pvh_long
    .intel_syntax noprefix

    .code64
pvh_long:
    mov byte ptr [rip + pvh_boot], 1
    xor esi, esi                   # no boot_params: _start never reads it
    jmp _start

# ------------------------------------------------------------------- data

    # PVH entry note: QEMU reads the descriptor as a size_t, so it is 8 bytes
    # (as in Linux); linux-loader takes its low 4 bytes. wirt-vmm enters at
    # the ELF entry (_start) and ignores it.
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                        # namesz
    .long 8                        # descsz
    .long 18                       # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .quad pvh_start

    .section .rodata
msg_banner:    .asciz "wirt test guest 1 booting\n"
msg_ready:     .asciz "guest: ready\n"
msg_cpuid1:    .asciz "cpu: leaf1.ecx "
msg_cpuid7:    .asciz " leaf7.ebx "
msg_pong:      .asciz "guest: pong "
msg_poweroff:  .asciz "guest: powering off\n"
msg_reboot:    .asciz "guest: rebooting\n"
msg_exception: .asciz "guest: exception "
msg_noblk:     .asciz "blk: none\n"
msg_blkbad:    .asciz "blk: unusable device\n"
msg_blkerr:    .asciz "blk: request failed, status "
msg_capacity:  .asciz "blk: capacity "
msg_id:        .asciz "blk: id "
msg_read:      .asciz "blk: sector 0 sum "
msg_wrote:     .asciz "blk: sector 1 sum "

    .section .data
    .align 8
idtr:
    .word 48 * 16 - 1
    .quad idt
idt_handlers:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exc_stub_\n
.endr
    .quad irq_master, irq_master, irq_master, irq_pvctl
    .quad irq_serial, irq_virtio, irq_virtio, irq_virtio
    .quad irq_slave, irq_slave, irq_slave, irq_slave
    .quad irq_slave, irq_slave, irq_slave, irq_slave

# PVH boot only: GDT (null, 0x08 64-bit code as _start and the IDT assume,
# 0x10 flat data) and page tables identity-mapping the first 4 GiB in 2 MiB
# pages (RAM, and virtio-mmio at 0xd0000000).
    .align 8
pvh_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
pvh_gdtr:
    .word 3 * 8 - 1
    .long pvh_gdt
    .align 4096
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

    .section .bss
    .align 4096
stack_bottom:
    .skip 16384
stack_top:
idt:        .skip 48 * 16
vq_desc:    .skip 16 * QSIZE
vq_avail:   .skip 6 + 2 * QSIZE
    .align 4
vq_used:    .skip 6 + 8 * QSIZE
    .align 16
req_hdr:    .skip 16
data_buf:   .skip SECTOR_BYTES
check_buf:  .skip SECTOR_BYTES
id_buf:     .skip 24
blk_base:   .skip 8
ping_count: .skip 8
used_seen:  .skip 2
req_status: .skip 1
pending_req: .skip 1
rx_head:    .skip 1
rx_tail:    .skip 1
pvh_boot:   .skip 1                # 1: entered at pvh_start (QEMU), not by wirt
    .align 16
rx_buf:     .skip 256
