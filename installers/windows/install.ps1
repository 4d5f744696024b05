<#
.SYNOPSIS
    Compagnon : installation pour l'utilisateur courant, sans droits d'administrateur (Windows).

.DESCRIPTION
    The same layout as Linux and macOS (installers/README.md), under %LOCALAPPDATA%\Compagnon:

        app\versions\<version>\venv       the version's Python environment
        app\current.txt                   the active version (line 1) and the previous one (line 2)
        bin\compagnon.cmd, bin\launcher.py  the launcher (bin is added to the user's PATH)

    and the value « Compagnon » of HKCU\Software\Microsoft\Windows\CurrentVersion\Run, which
    starts « compagnon tray » without a console window at each logon. Run it again to upgrade
    or repair. Needs Python 3.11 or later (python.org, installed « for me only » is enough).

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File installers\windows\install.ps1
    powershell -ExecutionPolicy Bypass -File install.ps1 -Wheel compagnon-0.2.0-py3-none-any.whl
#>
[CmdletBinding()]
param(
    [string]$From,                # a folder of the project (default: the repository around this script)
    [string]$Wheel,               # or a compagnon-<version>-*.whl
    [string]$Python,              # python.exe to use (default: the « py -3 » launcher, else python)
    [switch]$SystemSitePackages,  # the environment sees the interpreter's packages
    [switch]$NoDeps               # no dependency, no isolated build environment
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = Join-Path $env:LOCALAPPDATA 'Compagnon'
$App = Join-Path $Root 'app'
$Bin = Join-Path $Root 'bin'
$RunKey = 'HKCU:\Software\Microsoft\Windows\CurrentVersion\Run'
$RunValue = 'Compagnon'

function Invoke-Checked([string]$Exe, [string[]]$Arguments, [string]$What) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "install.ps1 : $What a échoué (code $LASTEXITCODE)" }
}

# The active version is named by app\current.txt, not by a link: line 1 the active version, line 2
# the previous one (installers/common/launcher.py reads and switches it the same way).
$Pointer = Join-Path $App 'current.txt'

Add-Type -Namespace CompagnonInstall -Name Native -MemberDefinition @'
[DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
public static extern bool MoveFileEx(string existing, string replacement, int flags);
'@

function Get-Pointer {
    if (-not (Test-Path -LiteralPath $Pointer)) { return @() }
    return @(Get-Content -LiteralPath $Pointer | ForEach-Object { $_.Trim() })
}

function Set-Pointer([string[]]$Names) {
    # Written whole beside it, then renamed over it (MoveFileEx MOVEFILE_REPLACE_EXISTING |
    # MOVEFILE_WRITE_THROUGH, as Python's os.replace): the old list or the new one, never none.
    $tmp = Join-Path $App ".current.txt.$PID.part"
    [System.IO.File]::WriteAllText($tmp, (($Names -join "`r`n") + "`r`n"), (New-Object System.Text.UTF8Encoding $false))
    if (-not [CompagnonInstall.Native]::MoveFileEx($tmp, $Pointer, 9)) {
        $code = [System.Runtime.InteropServices.Marshal]::GetLastWin32Error()
        Remove-Item -LiteralPath $tmp -Force -ErrorAction SilentlyContinue
        throw "install.ps1 : impossible d'écrire $Pointer (erreur $code)"
    }
}

function Get-JunctionTarget([string]$Link) {
    # Installs made before current.txt named the versions with junctions app\current, app\previous.
    $item = Get-Item -LiteralPath $Link -ErrorAction SilentlyContinue
    if ($null -ne $item -and $item.LinkType) { return [string](@($item.Target)[0]) }
    return $null
}

function Stop-Agent {
    # This user's agent processes started from the install folder (their files can't be replaced).
    $procs = @(Get-CimInstance Win32_Process -Filter "Name LIKE 'python%' OR Name LIKE 'compagnon%'" -ErrorAction SilentlyContinue |
        Where-Object { $_.CommandLine -and $_.CommandLine -like "*$Root*" })
    foreach ($proc in $procs) { Stop-Process -Id $proc.ProcessId -Force -ErrorAction SilentlyContinue }
    return $procs.Count -gt 0
}

# -- which Python, which version ------------------------------------------------------------------
if ($Python) { $PyExe = $Python; $PyPre = @() }
elseif (Get-Command py -ErrorAction SilentlyContinue) { $PyExe = 'py'; $PyPre = @('-3') }
elseif (Get-Command python -ErrorAction SilentlyContinue) { $PyExe = 'python'; $PyPre = @() }
else { throw 'install.ps1 : Python 3.11 ou plus est nécessaire (python.org, installation « pour moi seulement »).' }
& $PyExe @PyPre -c 'import sys; sys.exit(sys.version_info < (3, 11))'
if ($LASTEXITCODE -ne 0) { throw "install.ps1 : Python 3.11 ou plus est nécessaire ($PyExe) : indiquez-le avec -Python" }

if ($Wheel -and $From) { throw 'install.ps1 : -From et -Wheel s''excluent' }
if ($Wheel) {
    $Wheel = (Resolve-Path -LiteralPath $Wheel).Path
    if ((Split-Path -Leaf $Wheel) -notmatch '^compagnon-([^-]+)-.*\.whl$') { throw "install.ps1 : pas une roue compagnon : $Wheel" }
    $Version = $Matches[1]
} else {
    if (-not $From) { $From = Join-Path $PSScriptRoot '..\..' }
    $From = (Resolve-Path -LiteralPath $From).Path
    $init = Join-Path $From 'agent\__init__.py'
    if (-not (Test-Path -LiteralPath (Join-Path $From 'pyproject.toml')) -or -not (Test-Path -LiteralPath $init)) {
        throw "install.ps1 : pas un dossier du projet Compagnon : $From"
    }
    $found = Select-String -LiteralPath $init -Pattern '^__version__ = "([^"]+)"' | Select-Object -First 1
    if (-not $found) { throw "install.ps1 : version introuvable dans $init" }
    $Version = $found.Matches[0].Groups[1].Value
}
if ($Version -notmatch '^[A-Za-z0-9][A-Za-z0-9.+_-]*$') { throw "install.ps1 : version incorrecte : $Version" }

# -- the version's environment (a failed build puts back the one that was there) -----------------
$Target = Join-Path $App "versions\$Version"
$Aside = Join-Path $App "versions\.install-old-$Version-$PID"
$Venv = Join-Path $Target 'venv'
New-Item -ItemType Directory -Force -Path (Join-Path $App 'versions'), $Bin | Out-Null
$Stage = $null
$wasRunning = Stop-Agent
try {
    if (Test-Path -LiteralPath $Target) { Move-Item -LiteralPath $Target -Destination $Aside }
    Write-Host "Compagnon $Version : création de l'environnement Python dans $Venv"
    $venvArgs = @('-m', 'venv', '--clear')
    if ($SystemSitePackages) { $venvArgs += '--system-site-packages' }
    Invoke-Checked $PyExe ($PyPre + $venvArgs + @($Venv)) 'python -m venv'
    $pipArgs = @('-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet')
    if ($NoDeps) { $pipArgs += @('--no-deps', '--no-build-isolation') }
    if ($Wheel) { $pipArgs += $Wheel } else {
        # Build from a copy: the source folder stays as it was.
        $Stage = Join-Path ([System.IO.Path]::GetTempPath()) "compagnon-install-$PID"
        robocopy $From $Stage /E /NFL /NDL /NJH /NJS /NP /XD .git build dist tests __pycache__ .venv '*.egg-info' | Out-Null
        if ($LASTEXITCODE -ge 8) { throw "install.ps1 : copie de $From impossible (robocopy $LASTEXITCODE)" }
        $pipArgs += $Stage
    }
    Write-Host 'Installation du paquet (pip)...'
    Invoke-Checked (Join-Path $Venv 'Scripts\python.exe') $pipArgs 'pip install'
    $installed = & (Join-Path $Venv 'Scripts\compagnon.exe') --version
    if ($installed -ne "compagnon $Version") { throw "install.ps1 : version installée inattendue : $installed (attendu $Version)" }
    if (Test-Path -LiteralPath $Aside) { Remove-Item -LiteralPath $Aside -Recurse -Force }
} catch {
    if (Test-Path -LiteralPath $Target) { Remove-Item -LiteralPath $Target -Recurse -Force }
    if (Test-Path -LiteralPath $Aside) { Move-Item -LiteralPath $Aside -Destination $Target }
    throw
} finally {
    if ($Stage -and (Test-Path -LiteralPath $Stage)) { Remove-Item -LiteralPath $Stage -Recurse -Force }
}

# -- app\current.txt: this version active, the one it replaces kept as the previous one -----------
$named = Get-Pointer
$old = if ($named.Count -ge 1 -and $named[0]) { $named[0] } else { $null }
$prev = if ($named.Count -ge 2 -and $named[1]) { $named[1] } else { $null }
if ($named.Count -eq 0) {
    $legacy = Get-JunctionTarget (Join-Path $App 'current')
    if ($legacy) { $old = Split-Path -Leaf $legacy }
    $legacy = Get-JunctionTarget (Join-Path $App 'previous')
    if ($legacy) { $prev = Split-Path -Leaf $legacy }
}
if ($old -and $old -ne $Version -and (Test-Path -LiteralPath (Join-Path $App "versions\$old"))) { $prev = $old }
if ($prev -eq $Version -or -not ($prev -and (Test-Path -LiteralPath (Join-Path $App "versions\$prev")))) { $prev = $null }
Set-Pointer @(@($Version) + @(if ($prev) { $prev }))
foreach ($link in @((Join-Path $App 'current'), (Join-Path $App 'previous'))) {
    # Directory.Delete without recursion removes an old junction, never what it points to.
    if (Test-Path -LiteralPath $link) { [System.IO.Directory]::Delete($link, $false) }
}
$keep = @($Version)
if ($prev) { $keep += $prev }
Get-ChildItem -LiteralPath (Join-Path $App 'versions') -Directory -Force |
    Where-Object { $keep -notcontains $_.Name } |
    ForEach-Object { Remove-Item -LiteralPath $_.FullName -Recurse -Force }

# -- launchers ------------------------------------------------------------------------------------
$updateLauncher = Join-Path $PSScriptRoot '..\common\launcher.py'
if (Test-Path -LiteralPath $updateLauncher) { Copy-Item -LiteralPath $updateLauncher -Destination (Join-Path $Bin 'launcher.py') -Force }
$cmd = @'
@echo off
rem Compagnon launcher (installers/windows/install.ps1): runs the active version, named by the
rem first line of app\current.txt.
setlocal
set "ROOT=%~dp0.."
set "VERSION="
if exist "%ROOT%\app\current.txt" set /p VERSION=<"%ROOT%\app\current.txt"
if not defined VERSION goto missing
set "SCRIPTS=%ROOT%\app\versions\%VERSION%\venv\Scripts"
if not exist "%ROOT%\bin\launcher.py" goto direct
set "COMPAGNON_APP_DIR=%ROOT%\app"
"%SCRIPTS%\python.exe" "%ROOT%\bin\launcher.py" %*
exit /b %ERRORLEVEL%
:direct
"%SCRIPTS%\compagnon.exe" %*
exit /b %ERRORLEVEL%
:missing
echo Compagnon : aucune version active (app\current.txt) ; relancez install.ps1. 1>&2
exit /b 127
'@
Set-Content -LiteralPath (Join-Path $Bin 'compagnon.cmd') -Value $cmd -Encoding ASCII

# bin on the user's PATH (HKCU\Environment), for « compagnon » in a new terminal.
$userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
$parts = @(if ($userPath) { $userPath -split ';' | Where-Object { $_ } })
if ($parts -notcontains $Bin) { [Environment]::SetEnvironmentVariable('Path', (($parts + $Bin) -join ';'), 'User') }

# -- start at logon: HKCU Run, no console window (pythonw) ----------------------------------------
# No fixed path leads into the active version (no link): the launcher runs on the Python every
# version's environment is built on (any Python 3.8+ runs it), and starts the version current.txt names.
$launcherPy = Join-Path $Bin 'launcher.py'
$pythonw = Join-Path $Venv 'Scripts\pythonw.exe'
if (Test-Path -LiteralPath $launcherPy) {
    $basePython = (& (Join-Path $Venv 'Scripts\python.exe') -c 'import sys; print(sys._base_executable)' | Select-Object -First 1)
    $basePythonw = Join-Path (Split-Path -Parent ([string]$basePython).Trim()) 'pythonw.exe'
    if (Test-Path -LiteralPath $basePythonw) { $pythonw = $basePythonw }
    $runCommand = "`"$pythonw`" `"$launcherPy`" tray"
} else {
    # no update launcher: this version itself; -P: the folder it starts in is not searched for modules
    $runCommand = "`"$pythonw`" -P -m agent tray"
}
New-Item -Path $RunKey -Force | Out-Null
Set-ItemProperty -Path $RunKey -Name $RunValue -Value $runCommand

Write-Host "Compagnon $Version installé dans $Root."
if ($wasRunning) {
    # It was running: start the new version now, as the Run value would.
    if (Test-Path -LiteralPath $launcherPy) { Start-Process -FilePath $pythonw -ArgumentList "`"$launcherPy`"", 'tray' }
    else { Start-Process -FilePath $pythonw -ArgumentList '-P', '-m', 'agent', 'tray' }
} else {
    Write-Host 'Il démarrera à chaque ouverture de session ; pour le lancer maintenant : compagnon tray (nouveau terminal).'
}
