; Compagnon: per-user Windows setup (Inno Setup 6) of the one-folder build made by compagnon.spec.
; No elevation: it installs under the user's %LOCALAPPDATA% and writes only to HKCU.
;
;     pyinstaller --noconfirm installers\windows\compagnon.spec
;     iscc /DAppVersion=0.1.0 installers\windows\compagnon.iss
;
; /DSourceDir=FOLDER takes the one-folder build from elsewhere than dist\compagnon (the tests build
; it under Wine in a cache folder), /O names the output folder.
;
; The program goes to {app}\program; the user's settings, pairings, journal and keys, which the
; agent keeps in the same %LOCALAPPDATA%\Compagnon folder, are left alone by the uninstaller.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\compagnon"
#endif
#define AppExe "compagnonw.exe"

[Setup]
AppId={{6A1C5E2B-4F3D-4C8E-9B7A-2D5F0E8C1A93}
AppName=Compagnon
AppVersion={#AppVersion}
AppPublisher=Compagnon
AppComments=Signature électronique et plis chiffrés pour les plateformes de marchés publics
PrivilegesRequired=lowest
DefaultDirName={localappdata}\Compagnon
DisableDirPage=yes
DisableProgramGroupPage=yes
UsePreviousAppDir=no
OutputDir=..\..\dist
OutputBaseFilename=compagnon-{#AppVersion}-setup
UninstallDisplayName=Compagnon
UninstallDisplayIcon={app}\program\{#AppExe}
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "fr"; MessagesFile: "compiler:Languages\French.isl"
Name: "en"; MessagesFile: "compiler:Default.isl"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}\program"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{userprograms}\Compagnon"; Filename: "{app}\program\{#AppExe}"; Parameters: "tray"

[Registry]
; Start « compagnon tray » at logon, for this user only; the value goes with the uninstall.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "Compagnon"; ValueData: """{app}\program\{#AppExe}"" tray"; Flags: uninsdeletevalue

[Run]
; Also after a silent install (/VERYSILENT, an administrator's deployment or an upgrade over a
; running agent, which CloseApplications stopped): the agent is started again.
Filename: "{app}\program\{#AppExe}"; Parameters: "tray"; Description: "{cm:LaunchProgram,Compagnon}"; Flags: nowait postinstall

[UninstallRun]
; Stop this user's agent so that its files can be removed. A taskkill without /FI (Wine's) ignores
; the filtered form; the plain one that follows then stops the agent. Run without elevation (the
; uninstaller asks for none), taskkill can end only this user's own processes either way.
Filename: "{sys}\taskkill.exe"; Parameters: "/F /FI ""USERNAME eq {username}"" /IM {#AppExe}"; Flags: runhidden; RunOnceId: "StopTray"
Filename: "{sys}\taskkill.exe"; Parameters: "/F /FI ""USERNAME eq {username}"" /IM compagnon.exe"; Flags: runhidden; RunOnceId: "StopAgent"
Filename: "{sys}\taskkill.exe"; Parameters: "/F /IM {#AppExe}"; Flags: runhidden; RunOnceId: "StopTrayUnfiltered"
Filename: "{sys}\taskkill.exe"; Parameters: "/F /IM compagnon.exe"; Flags: runhidden; RunOnceId: "StopAgentUnfiltered"
