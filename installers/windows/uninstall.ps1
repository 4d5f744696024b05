<#
.SYNOPSIS
    Compagnon : désinstallation pour l'utilisateur courant (Windows), sans droits d'administrateur.

.DESCRIPTION
    Removes what install.ps1 made: the Run value, the running agent of this user, the versions,
    the launchers and the PATH entry. The user's settings, pairings, journal and keys stay in
    %LOCALAPPDATA%\Compagnon unless -Purge; a non-empty keys folder is never deleted.
#>
[CmdletBinding()]
param([switch]$Purge)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = Join-Path $env:LOCALAPPDATA 'Compagnon'
$App = Join-Path $Root 'app'
$Bin = Join-Path $Root 'bin'
$RunKey = 'HKCU:\Software\Microsoft\Windows\CurrentVersion\Run'

# The Run value, when it is ours.
$run = Get-ItemProperty -Path $RunKey -Name 'Compagnon' -ErrorAction SilentlyContinue
if ($null -ne $run -and $run.Compagnon -like "*$Root*") { Remove-ItemProperty -Path $RunKey -Name 'Compagnon' }

# This user's agent processes started from the install folder.
Get-CimInstance Win32_Process -Filter "Name LIKE 'python%' OR Name LIKE 'compagnon%'" -ErrorAction SilentlyContinue |
    Where-Object { $_.CommandLine -and $_.CommandLine -like "*$Root*" } |
    ForEach-Object { Stop-Process -Id $_.ProcessId -Force -ErrorAction SilentlyContinue }

# Junctions first (installs made before app\current.txt named the versions): removing a folder
# tree that goes through one could reach its target.
foreach ($link in @((Join-Path $App 'current'), (Join-Path $App 'previous'))) {
    if (Test-Path -LiteralPath $link) { [System.IO.Directory]::Delete($link, $false) }
}
foreach ($dir in @($App, $Bin)) {
    if (Test-Path -LiteralPath $dir) { Remove-Item -LiteralPath $dir -Recurse -Force }
}

$userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
if ($userPath) {
    $parts = @($userPath -split ';' | Where-Object { $_ -and $_ -ne $Bin })
    [Environment]::SetEnvironmentVariable('Path', ($parts -join ';'), 'User')
}

if ($Purge -and (Test-Path -LiteralPath $Root)) {
    # Settings, state, logs and cache all live in this folder (platformdirs on Windows).
    Get-ChildItem -LiteralPath $Root -Force | Where-Object { $_.Name -ne 'keys' } |
        ForEach-Object { Remove-Item -LiteralPath $_.FullName -Recurse -Force }
    $keys = Join-Path $Root 'keys'
    if ((Test-Path -LiteralPath $keys) -and (Get-ChildItem -LiteralPath $keys -Force)) {
        Write-Host "Conservé : $keys (vos clés : sauvegardez-les avant de le supprimer vous-même)."
    } else {
        Remove-Item -LiteralPath $Root -Recurse -Force
    }
} elseif (Test-Path -LiteralPath $Root) {
    Write-Host "Vos réglages et données restent dans $Root ; -Purge les retire."
}
Write-Host 'Compagnon est désinstallé.'
