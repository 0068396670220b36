package attest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// PEM block types: PKCS #8 for the private key, PKIX (SubjectPublicKeyInfo)
// for the public key.
const (
	privatePEMType = "PRIVATE KEY"
	publicPEMType  = "PUBLIC KEY"
)

// GenerateKey makes an ed25519 key pair and returns it PEM-encoded. rand nil
// means crypto/rand.
func GenerateKey(rnd io.Reader) (pub, priv []byte, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	pk, sk, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	pder, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicPEMType, Bytes: pder}),
		pem.EncodeToMemory(&pem.Block{Type: privatePEMType, Bytes: der}), nil
}

// WriteKeyPair writes a new key pair to privPath (mode 0600) and pubPath
// (0644). It refuses to overwrite either file.
func WriteKeyPair(privPath, pubPath string) error {
	pub, priv, err := GenerateKey(nil)
	if err != nil {
		return err
	}
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: remove it or choose another name", p)
		}
	}
	if err := writeNew(privPath, priv, 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		os.Remove(privPath)
		return err
	}
	return nil
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if err := f.Chmod(mode); err != nil { // the umask may have narrowed it; never widen the private key
		f.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ParsePrivateKey reads a PEM "PRIVATE KEY" (PKCS #8) block holding an
// ed25519 key. Errors never include key material.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block found (want -----BEGIN PRIVATE KEY-----)")
	}
	if blk.Type != privatePEMType {
		hint := ""
		if blk.Type == "ENCRYPTED SIGSTORE PRIVATE KEY" || blk.Type == "ENCRYPTED COSIGN PRIVATE KEY" {
			hint = "; pulsegate reads unencrypted PKCS #8 keys (pulsegate attest keygen)"
		}
		return nil, fmt.Errorf("PEM block %q, want %q%s", blk.Type, privatePEMType, hint)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS #8 private key: %w", err)
	}
	sk, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want ed25519", k)
	}
	return sk, nil
}

// ParsePublicKey reads a PEM "PUBLIC KEY" (PKIX) block holding an ed25519
// key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block found (want -----BEGIN PUBLIC KEY-----)")
	}
	if blk.Type != publicPEMType {
		return nil, fmt.Errorf("PEM block %q, want %q", blk.Type, publicPEMType)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKIX public key: %w", err)
	}
	pk, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want ed25519", k)
	}
	return pk, nil
}

// LoadPrivateKey reads a private key file. It does not insist on mode
// 0600: Kubernetes mounts Secrets 0644 unless told otherwise.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKey reads a public key file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return k, nil
}

// KeyID names a public key: the hex SHA-256 of its PKIX encoding.
func KeyID(pk ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}
