#Requires -Version 5.1
# lmpreflight remediation script for HV01 -> HV02
# Generated 2026-11-20 10:05 UTC by lmpreflight <version>; verdict: not-ready.
#
# Run the parts in this order, each where it says:
#   1. -Part Directory    on a machine with the ActiveDirectory module, as a Domain Admin
#   2. -Part Source       on HV01 (the source host), in an elevated session
#   3. -Part Destination  on HV02 (the destination host), in an elevated session
#
# Each change is a high-impact change: PowerShell asks before making it (-Confirm:$false does
# not ask; -WhatIf shows what would change and changes nothing). Every step checks first
# whether it is still needed, so running a part again changes nothing; it stops at the first
# error. Each run keeps a transcript, and writes the values it may change before changing
# them (lmpreflight-before-<Part>-<time>.json), so every change can be undone by hand.
# Windows blocks an unsigned script that came from another machine: read it first, then
# Unblock-File .\fix.ps1 (or run it with powershell -ExecutionPolicy Bypass -File .\fix.ps1 ...).
#   .\fix.ps1 -Part Directory -WhatIf     # preview
#   .\fix.ps1 -Part Directory             # change, confirming each step
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [Parameter(Mandatory = $true)][ValidateSet('Directory', 'Source', 'Destination')][string]$Part,
    [string]$LogFolder = $PSScriptRoot
)
$ErrorActionPreference = 'Stop'
$LmpStamp = Get-Date -Format 'yyyyMMdd-HHmmss'
$LmpTranscript = Join-Path -Path $LogFolder -ChildPath "lmpreflight-fix-$Part-$LmpStamp.log"
Start-Transcript -Path $LmpTranscript -WhatIf:$false -Confirm:$false
trap { Write-Host "lmpreflight: stopped: $($_.Exception.Message)" -ForegroundColor Red; Stop-Transcript; exit 1 }
$LmpBefore = [ordered]@{}

function Save-LmpBefore([string]$Name, [scriptblock]$Read) {
    try { $LmpBefore[$Name] = & $Read } catch { $LmpBefore[$Name] = "could not be read: $($_.Exception.Message)" }
}

function Write-LmpBefore {
    $path = Join-Path -Path $LogFolder -ChildPath "lmpreflight-before-$Part-$LmpStamp.json"
    $LmpBefore | ConvertTo-Json -Depth 4 | Set-Content -Path $path -Encoding UTF8 -WhatIf:$false -Confirm:$false
    Write-Host "Values before any change: $path (to undo a change, set the value back)"
}

function Invoke-LmpStep([string]$Check, [string]$Description, [scriptblock]$Needed, [scriptblock]$Change) {
    if (-not (& $Needed)) { Write-Host "[done] $Check - $Description"; return }
    if ($PSCmdlet.ShouldProcess($env:COMPUTERNAME, "$Check - $Description")) {
        Write-Host "[fix]  $Check - $Description"
        & $Change
    }
}

function Assert-LmpHost([string]$Name) {
    if ($env:COMPUTERNAME -ne $Name) { throw "this part must run on $Name, not on $env:COMPUTERNAME" }
}

# =====================================================================================
# Part Directory (1 of 3): run on a machine with the ActiveDirectory module, as a Domain Admin
# =====================================================================================
if ($Part -eq 'Directory') {
    Import-Module ActiveDirectory
    Save-LmpBefore 'HV01' { Get-ADComputer -Identity 'HV01' -Properties @('msDS-AllowedToDelegateTo', 'TrustedForDelegation', 'TrustedToAuthForDelegation') | Select-Object -Property @('Name', 'msDS-AllowedToDelegateTo', 'TrustedForDelegation', 'TrustedToAuthForDelegation') }
    Save-LmpBefore 'HV02' { Get-ADComputer -Identity 'HV02' -Properties @('msDS-AllowedToDelegateTo', 'TrustedForDelegation', 'TrustedToAuthForDelegation') | Select-Object -Property @('Name', 'msDS-AllowedToDelegateTo', 'TrustedForDelegation', 'TrustedToAuthForDelegation') }
    if (-not $WhatIfPreference) { Write-LmpBefore }

    # delegation.protocol-transition: HV01's delegation is "Kerberos only" (userAccountControl 4096): moves started from another machine fail with 0x8009030E
    Invoke-LmpStep 'delegation.protocol-transition' 'Let HV01 delegate with any authentication protocol' {
        -not (Get-ADComputer -Identity 'HV01' -Properties TrustedToAuthForDelegation).TrustedToAuthForDelegation
    } {
        Set-ADAccountControl -Identity (Get-ADComputer -Identity 'HV01') -TrustedToAuthForDelegation $true
    }

    # delegation.spns-to-destination: HV01 may not delegate to Microsoft Virtual System Migration Service/HV02, Microsoft Virtual System Migration Service/hv02.corp.example
    Invoke-LmpStep 'delegation.spns-to-destination' 'Let HV01 delegate to: Microsoft Virtual System Migration Service/HV02, Microsoft Virtual System Migration Service/hv02.corp.example' {
        @(@('Microsoft Virtual System Migration Service/HV02', 'Microsoft Virtual System Migration Service/hv02.corp.example') | Where-Object { @((Get-ADComputer -Identity 'HV01' -Properties 'msDS-AllowedToDelegateTo').'msDS-AllowedToDelegateTo') -notcontains $_ }).Count -gt 0
    } {
        $add = @(@('Microsoft Virtual System Migration Service/HV02', 'Microsoft Virtual System Migration Service/hv02.corp.example') | Where-Object { @((Get-ADComputer -Identity 'HV01' -Properties 'msDS-AllowedToDelegateTo').'msDS-AllowedToDelegateTo') -notcontains $_ })
        Set-ADComputer -Identity 'HV01' -Add @{'msDS-AllowedToDelegateTo' = $add}
    }

    # delegation.smb-share-server: WEB02 on \\fs01.corp.example\vms: HV01 may not delegate to cifs/fs01, cifs/fs01.corp.example (its cifs entries: cifs/HV02, cifs/hv02.corp.example); a move started elsewhere cannot open the VM's files unless fs01.corp.example accepts HV01 by resource-based delegation (not read); HV02's computer account needs Full Control on the share and its folders (not read: that ACL is out of reach over WinRM without a double hop)
    Invoke-LmpStep 'delegation.smb-share-server' 'Let HV01 delegate to: cifs/fs01, cifs/fs01.corp.example' {
        @(@('cifs/fs01', 'cifs/fs01.corp.example') | Where-Object { @((Get-ADComputer -Identity 'HV01' -Properties 'msDS-AllowedToDelegateTo').'msDS-AllowedToDelegateTo') -notcontains $_ }).Count -gt 0
    } {
        $add = @(@('cifs/fs01', 'cifs/fs01.corp.example') | Where-Object { @((Get-ADComputer -Identity 'HV01' -Properties 'msDS-AllowedToDelegateTo').'msDS-AllowedToDelegateTo') -notcontains $_ })
        Set-ADComputer -Identity 'HV01' -Add @{'msDS-AllowedToDelegateTo' = $add}
    }
    Stop-Transcript
}

# =====================================================================================
# Part Source (2 of 3): run on HV01, in an elevated PowerShell session
# =====================================================================================
if ($Part -eq 'Source') {
    Assert-LmpHost 'HV01'

    # vm.configuration-version: LEGACY01 has configuration version 7.0, which HV02 cannot run (supported: 8.0, 8.1, 8.2, 8.3, 9.0, 9.1, 9.2, 9.3, 10.0); it is too old for the destination: Update-VMVersion is needed first, and it is irreversible
    # Not automated: needs a decision or downtime
    # Shut down LEGACY01 and upgrade its configuration version on HV01; this cannot be undone: don't upgrade until you're sure you won't move it back to an older host.
    #   PS> Stop-VM -Name 'LEGACY01'; Update-VMVersion -Name 'LEGACY01' -Force

    # vm.storage-reachable: LEGACY01: ISO attached from a local path: C:\ISO\WindowsServer2016.iso; files on local storage (D:\Hyper-V\LEGACY01, D:\Hyper-V\LEGACY01\LEGACY01.vhdx); the move needs -IncludeStorage
    # Not automated: needs a decision or downtime
    # Eject local media, and move with storage or place every VM file on shared storage.
    #   PS> Get-VMDvdDrive -VMName 'LEGACY01' | Set-VMDvdDrive -Path $null

    # vm.processor-compatibility: LEGACY01: processors differ (Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz → Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz), processor compatibility is off, and Hyper-V's own verdict is missing (no compatibility information was collected for this VM): cannot confirm the destination offers every processor feature the VM uses
    # Not automated: needs a decision or downtime
    # Ask Hyper-V itself: Compare-VM lists what the destination cannot honour.
    #   PS> (Compare-VM -Name 'LEGACY01' -DestinationHost 'hv02.corp.example').Incompatibilities | Format-Table MessageId, Message

    # vm.processor-compatibility: WEB02: processors differ (Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz → Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz), processor compatibility is off, and Hyper-V's own verdict is missing (no compatibility information was collected for this VM): cannot confirm the destination offers every processor feature the VM uses
    # Not automated: needs a decision or downtime
    # Ask Hyper-V itself: Compare-VM lists what the destination cannot honour.
    #   PS> (Compare-VM -Name 'WEB02' -DestinationHost 'hv02.corp.example').Incompatibilities | Format-Table MessageId, Message

    # After Part Directory has replicated, renew this host's tickets.
    Write-Host 'When Part Directory is done: klist purge -li 0x3e7 (or restart the host) to use the new delegation.'
    Stop-Transcript
}

# =====================================================================================
# Part Destination (3 of 3): run on HV02, in an elevated PowerShell session
# =====================================================================================
if ($Part -eq 'Destination') {
    Assert-LmpHost 'HV02'
    Save-LmpBefore 'VMHost' { Get-VMHost | Select-Object -Property @('VirtualMachineMigrationEnabled', 'VirtualMachineMigrationAuthenticationType', 'VirtualMachineMigrationPerformanceOption', 'MaximumVirtualMachineMigrations', 'UseAnyNetworkForMigration') }
    Save-LmpBefore 'MigrationNetworks' { @(Get-VMMigrationNetwork | Select-Object -Property @('Subnet', 'Priority')) }
    Save-LmpBefore 'FirewallRule' { Get-NetFirewallRule -Name 'VIRT-MIGL-In-TCP-NoScope' | Select-Object -Property @('Name', 'Enabled') }
    Save-LmpBefore 'vmms' { Get-Service -Name 'vmms' | Select-Object -Property @('Status', 'StartType') }
    Save-LmpBefore 'HyperVAdministrators' { @(Get-LocalGroupMember -SID 'S-1-5-32-578' | Select-Object -Property Name) }
    if (-not $WhatIfPreference) { Write-LmpBefore }

    # network.port-6600: HV01 from 10.0.50.11 → 10.0.50.12:6600 timed out: HV02's firewall rule Hyper-V (MIG-TCP-In) is disabled
    # Enable the built-in rule on HV02.
    # Enable the built-in rule on HV02. PS> Enable-NetFirewallRule -Name 'VIRT-MIGL-In-TCP-NoScope'

    # network.firewall-rule: Hyper-V (MIG-TCP-In) is disabled on HV02, and Windows Firewall is on for 'LiveMigration' (Public profile)
    Invoke-LmpStep 'network.firewall-rule' 'Enable the ''Hyper-V (MIG-TCP-In)'' firewall rule' {
        [string](Get-NetFirewallRule -Name 'VIRT-MIGL-In-TCP-NoScope').Enabled -ne 'True'
    } {
        Enable-NetFirewallRule -Name 'VIRT-MIGL-In-TCP-NoScope'
    }

    # vm.switches-on-destination: WEB02 uses switch(es) 'External-DMZ' not present on HV02 (it has: External-Prod)
    # Not automated: needs a decision or downtime
    # Create the switch(es) on HV02 with the same names and type as on HV01; an external one on the adapter that carries that network (HV02's adapters other than the management one: 'LiveMigration'), not the management adapter, or the host loses its connection.
    #   PS> New-VMSwitch -Name 'External-DMZ' -NetAdapterName <NetAdapterName> -AllowManagementOS $false

    # After Part Directory has replicated, renew this host's tickets.
    Write-Host 'When Part Directory is done: klist purge -li 0x3e7 (or restart the host) to use the new delegation.'
    Stop-Transcript
}
