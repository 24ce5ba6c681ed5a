"""Every reference a built-in check cites is a page that exists.

Each URL below was checked against the public source of the page (the Microsoft docs
repositories, or the site itself); a check that cites anything else fails here until the
new page is verified and added with its source. A reference that does not exist once slipped
into a check ('hyper-v-feature-compatibility'); this keeps that from happening again.
"""

from __future__ import annotations

from lmpreflight.registry import load_checks

WSD = "MicrosoftDocs/windowsserverdocs WindowsServerDocs/"
SUPPORT = "MicrosoftDocs/SupportArticles-docs support/windows-server/"
LEARN = "https://learn.microsoft.com/"
HYPERV = f"{LEARN}windows-server/virtualization/hyper-v/"
VERIFIED = {
    f"{HYPERV}deploy/set-up-hosts-for-live-migration-without-failover-clustering": f"{WSD}virtualization/hyper-v/deploy/Set-up-hosts-for-live-migration-without-Failover-Clustering.md",
    f"{HYPERV}deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server": f"{WSD}virtualization/hyper-v/deploy/Upgrade-virtual-machine-version-in-Hyper-V-on-Windows-or-Windows-Server.md",
    f"{HYPERV}manage/use-live-migration-without-failover-clustering-to-move-a-virtual-machine": f"{WSD}virtualization/hyper-v/manage/Use-live-migration-without-Failover-Clustering-to-move-a-virtual-machine.md",
    f"{HYPERV}manage/processor-compatibility-mode-hyper-v": f"{WSD}virtualization/hyper-v/manage/processor-compatibility-mode-hyper-v.md",
    f"{HYPERV}manage/dynamic-processor-compatibility-mode": f"{WSD}virtualization/hyper-v/manage/dynamic-processor-compatibility-mode.md",
    f"{HYPERV}manage/non-uniform-memory-access": f"{WSD}virtualization/hyper-v/manage/non-uniform-memory-access.md",
    f"{HYPERV}get-started/install-hyper-v": f"{WSD}virtualization/hyper-v/get-started/Install-Hyper-V.md",
    f"{HYPERV}plan/plan-for-deploying-devices-using-discrete-device-assignment": f"{WSD}virtualization/hyper-v/plan/Plan-for-Deploying-Devices-using-Discrete-Device-Assignment.md",
    f"{HYPERV}plan/virtual-fibre-channel-for-hyper-v": f"{WSD}virtualization/hyper-v/plan/virtual-fibre-channel-for-hyper-v.md",
    f"{LEARN}windows-server/security/kerberos/kerberos-constrained-delegation-overview": f"{WSD}security/kerberos/kerberos-constrained-delegation-overview.md",
    f"{LEARN}windows-server/security/credentials-protection-and-management/protected-users-security-group": f"{WSD}security/credentials-protection-and-management/protected-users-security-group.md",
    f"{LEARN}windows-server/security/guarded-fabric-shielded-vm/guarded-fabric-troubleshoot-hosts": f"{WSD}security/guarded-fabric-shielded-vm/guarded-fabric-troubleshoot-hosts.md",
    f"{LEARN}windows-server/storage/file-server/smb-direct": f"{WSD}storage/file-server/smb-direct.md",
    f"{LEARN}windows-server/storage/file-server/smb-signing-overview": f"{WSD}storage/file-server/smb-signing-overview.md",
    f"{LEARN}windows-server/identity/ad-ds/manage/dc-locator": f"{WSD}identity/ad-ds/manage/dc-locator.md",
    f"{LEARN}windows-server/administration/windows-commands/nltest": f"{WSD}administration/windows-commands/nltest.md",
    f"{LEARN}windows/win32/ad/directory-service-functions": "MicrosoftDocs/win32 desktop-src/AD/directory-service-functions.md",
    f"{LEARN}troubleshoot/windows-server/windows-security/kerberos-authentication-troubleshooting-guidance": f"{SUPPORT}windows-security/kerberos-authentication-troubleshooting-guidance.md",
    f"{LEARN}powershell/module/netsecurity/get-netfirewallrule": "MicrosoftDocs/windows-powershell-docs docset/winserver2022-ps/NetSecurity/Get-NetFirewallRule.md",
    f"{LEARN}powershell/module/netconnection/get-netconnectionprofile": "MicrosoftDocs/windows-powershell-docs docset/winserver2016-ps/netconnection/Get-NetConnectionProfile.md",
    f"{LEARN}powershell/module/dnsclient/resolve-dnsname": "MicrosoftDocs/windows-powershell-docs docset/winserver2022-ps/dnsclient/Resolve-DnsName.md",
    f"{LEARN}troubleshoot/windows-server/virtualization/troubleshoot-live-migration-issues": f"{SUPPORT}virtualization/troubleshoot-live-migration-issues.md",
    f"{LEARN}troubleshoot/windows-server/virtualization/hyper-v-virtual-machine-live-migration": f"{SUPPORT}virtualization/hyper-v-virtual-machine-live-migration.md",
    f"{LEARN}troubleshoot/windows-server/virtualization/hyper-v-vm-supported-file-locations": f"{SUPPORT}virtualization/hyper-v-vm-supported-file-locations.md",
    f"{LEARN}troubleshoot/windows-server/virtualization/hyper-v-vmm-service-fails-event-id-14050": f"{SUPPORT}virtualization/hyper-v-vmm-service-fails-event-id-14050.md",
    f"{LEARN}virtualization/hyper-v-on-windows/about/": "MicrosoftDocs/Virtualization-Documentation virtualization/hyper-v-on-windows/about/index.md",
    f"{LEARN}windows/security/identity-protection/credential-guard/considerations-known-issues": "MicrosoftDocs/windows-itpro-docs windows/security/identity-protection/credential-guard/considerations-known-issues.md",
    f"{LEARN}previous-versions/windows/it-pro/windows-10/security/threat-protection/security-policy-settings/maximum-tolerance-for-computer-clock-synchronization": "MicrosoftDocs/windows-itpro-docs (security policy settings)",
    f"{LEARN}powershell/module/hyper-v/get-vmgpupartitionadapter": "MicrosoftDocs/windows-powershell-docs docset/winserver2025-ps/hyper-v/Get-VMGpuPartitionAdapter.md",
    f"{LEARN}powershell/module/hyper-v/compare-vm": "MicrosoftDocs/windows-powershell-docs docset/winserver2022-ps/Hyper-V/Compare-VM.md",
    f"{LEARN}powershell/module/smbshare/get-smbdelegation": "MicrosoftDocs/windows-powershell-docs docset/winserver2019-ps/smbshare/Get-SmbDelegation.md",
    f"{LEARN}powershell/module/netsecurity/get-netipsecrule": "MicrosoftDocs/windows-powershell-docs NetSecurity/Get-NetIPsecRule.md",
    f"{LEARN}powershell/module/microsoft.powershell.management/test-computersecurechannel": "MicrosoftDocs/PowerShell-Docs reference/5.1/Microsoft.PowerShell.Management/Test-ComputerSecureChannel.md",
    f"{LEARN}openspecs/windows_protocols/ms-adts/e9a2d23c-c31e-4a6f-88a0-6646fdb51a3c": "[MS-ADTS] 6.1.6.7.9 trustAttributes",
    f"{LEARN}windows/win32/adschema/a-dnshostname": "MicrosoftDocs/win32 desktop-src/ADSchema/a-dnshostname.md",
    f"{LEARN}windows/win32/cimwin32prov/win32-computersystem": "MicrosoftDocs/win32 desktop-src/CIMWin32Prov/win32-computersystem.md",
    "https://msrc.microsoft.com/update-guide/vulnerability/CVE-2018-0886": "Microsoft Security Response Center, CredSSP CVE-2018-0886",
    "https://techcommunity.microsoft.com/t5/virtualization/live-migration-via-constrained-delegation-with-kerberos-in/ba-p/382334": "Virtualization blog (Microsoft), 2017",
}


def test_every_reference_is_a_verified_page() -> None:
    unknown = {
        (check.id, reference)
        for check in load_checks(include_plugins=False).sorted()
        for reference in check.references
        if reference not in VERIFIED
    }
    assert not unknown, f"verify these pages exist and add them with their source: {sorted(unknown)}"


def test_every_check_cites_a_source() -> None:
    for check in load_checks(include_plugins=False).sorted():
        assert check.references, f"{check.id} cites no source for its rule"
