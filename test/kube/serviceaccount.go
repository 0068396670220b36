package kube

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// defaultServiceAccount is the ServiceAccount that kube-controller-manager's
// serviceaccount controller creates in every namespace, and that the
// ServiceAccount admission plugin gives to pods that name none.
const defaultServiceAccount = "default"

// runDefaultServiceAccounts stands in for kube-controller-manager's
// serviceaccount controller, which this harness does not run: it watches
// Namespaces and creates the "default" ServiceAccount in each one until stop is
// cancelled, and waits (within ctx) for the one in namespace "default".
//
// The alternative, --disable-admission-plugins=ServiceAccount, would make pods
// differ from a real cluster's (empty spec.serviceAccountName, no token
// volume), which is what pulsegate's correlation reads. The admission plugin
// retries the lookup of "default" for about a second, which covers a test that
// creates a namespace and a pod in it right away.
func (s *Server) runDefaultServiceAccounts(ctx, stop context.Context) error {
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	inf := factory.Core().V1().Namespaces().Informer()
	create := func(obj any) {
		ns, ok := obj.(*corev1.Namespace)
		if !ok || ns.Status.Phase == corev1.NamespaceTerminating {
			return
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: defaultServiceAccount}}
		_, err := s.Client.CoreV1().ServiceAccounts(ns.Name).Create(stop, sa, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && stop.Err() == nil {
			s.log.Error("create default ServiceAccount", "namespace", ns.Name, "err", err)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    create,
		UpdateFunc: func(_, obj any) { create(obj) },
	}); err != nil {
		return fmt.Errorf("kube: namespace informer: %w", err)
	}
	factory.Start(stop.Done())
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := s.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, defaultServiceAccount, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("kube: wait for ServiceAccount default/default: %w", err)
	}
	return nil
}

// ServiceAccountConfig returns a configuration that authenticates as the
// ServiceAccount namespace/name (user system:serviceaccount:<namespace>:<name>)
// with a token from the TokenRequest API, valid for an hour. It creates the
// ServiceAccount when it does not exist; the namespace must exist.
func (s *Server) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := s.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("kube: create ServiceAccount %s/%s: %w", namespace, name, err)
	}
	seconds := int64(3600)
	tr, err := s.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return s.TokenConfig(tr.Status.Token), nil
}
