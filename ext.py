import socket, os, subprocess, time, sqlite3, signal, threading
path='/tmp/rv/notify.sock'
if os.path.exists(path): os.unlink(path)
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path); os.chmod(path,0o777); s.settimeout(0.2)
msgs=[]; t0=time.time()
def rd():
    while time.time()-t0<12:
        try: d=s.recv(4096); msgs.append((round(time.time()-t0,2), d.decode()))
        except socket.timeout: pass
th=threading.Thread(target=rd); th.start()
h=sqlite3.connect('/tmp/rv/state/state.sqlite', isolation_level=None); h.execute('BEGIN IMMEDIATE')
p=subprocess.Popen(['/tmp/audit-bin/whoisd','--config','/tmp/rv/base.conf'], env=dict(os.environ, NOTIFY_SOCKET=path), stdout=open('/tmp/rv/ext.log','wb'), stderr=subprocess.STDOUT)
time.sleep(0.7); p.send_signal(signal.SIGTERM); print('SIGTERM at', round(time.time()-t0,2))
time.sleep(4.5); h.execute('ROLLBACK')
rc=p.wait(20); th.join()
for m in msgs: print(m)
print('rc', rc)
