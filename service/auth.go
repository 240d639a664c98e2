package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// LoginResult is the answer to a successful login.
type LoginResult struct {
	Username string `json:"username"`
	Token    string `json:"token"`
}

var errBadLogin = convo.Errorf(convo.EUnauthorized, "INVALID_CREDENTIALS", "wrong username or password")

// Login checks an agent's password and issues a signed token.
func (s *Service) Login(ctx context.Context, username, password string) (*LoginResult, error) {
	var agent *convo.Agent
	err := s.store.View(ctx, func(tx convo.Tx) error {
		var err error
		if agent, err = tx.GetAgentByUsername(ctx, strings.TrimSpace(username)); err != nil {
			return err
		}
		cust, err := tx.GetCustomer(ctx, agent.CustomerID)
		if err == nil && !cust.TMDelete.IsNever() {
			return convo.NotFound("CUSTOMER_NOT_FOUND", "customer")
		}
		return err
	})
	if convo.ErrorStatus(err) == convo.ENotFound {
		bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return nil, errBadLogin
	} else if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(agent.PasswordHash), []byte(password)) != nil {
		return nil, errBadLogin
	}
	now := s.clock.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   agent.ID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(s.config.TokenTTL)),
		Issuer:    "convo",
	}).SignedString(s.jwtKey)
	if err != nil {
		return nil, err
	}
	return &LoginResult{Username: agent.Username, Token: token}, nil
}

var errBadCredential = convo.Errorf(convo.EUnauthorized, convo.ReasonUnauthenticated, "missing or invalid credentials")

// Authenticate turns a credential (login token or access key) into a caller.
func (s *Service) Authenticate(ctx context.Context, credential string) (*convo.Caller, error) {
	if credential == "" {
		return nil, errBadCredential
	}
	if strings.Count(credential, ".") == 2 {
		return s.authenticateToken(ctx, credential)
	}
	return s.authenticateAccessKey(ctx, credential)
}

func (s *Service) authenticateToken(ctx context.Context, token string) (*convo.Caller, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.jwtKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer("convo"),
		jwt.WithTimeFunc(s.clock.Now),
		jwt.WithExpirationRequired())
	if err != nil {
		return nil, errBadCredential
	}
	var caller *convo.Caller
	err = s.store.View(ctx, func(tx convo.Tx) error {
		agent, err := tx.GetAgent(ctx, claims.Subject)
		if err != nil {
			return err
		}
		if !agent.TMDelete.IsNever() {
			return errBadCredential
		}
		if err := s.customerLive(ctx, tx, agent.CustomerID); err != nil {
			return err
		}
		caller = &convo.Caller{CustomerID: agent.CustomerID, AgentID: agent.ID, Permission: agent.Permission}
		return nil
	})
	if convo.ErrorStatus(err) == convo.ENotFound {
		return nil, errBadCredential
	}
	return caller, err
}

func (s *Service) authenticateAccessKey(ctx context.Context, token string) (*convo.Caller, error) {
	var caller *convo.Caller
	err := s.store.View(ctx, func(tx convo.Tx) error {
		key, err := tx.GetAccessKeyByHash(ctx, hashToken(token))
		if err != nil {
			return err
		}
		if !key.TMExpire.IsNever() && !s.clock.Now().Before(key.TMExpire.Time) {
			return errBadCredential
		}
		if err := s.customerLive(ctx, tx, key.CustomerID); err != nil {
			return err
		}
		caller = &convo.Caller{CustomerID: key.CustomerID, AgentID: convo.NilID, AccessKeyID: key.ID, Permission: convo.PermissionCustomerAdmin}
		return nil
	})
	if convo.ErrorStatus(err) == convo.ENotFound {
		return nil, errBadCredential
	}
	return caller, err
}

// customerLive refuses the credential of a deleted customer; a failure to
// read it is the database's, not the credential's.
func (s *Service) customerLive(ctx context.Context, tx convo.Tx, id string) error {
	c, err := tx.GetCustomer(ctx, id)
	if convo.ErrorStatus(err) == convo.ENotFound || err == nil && !c.TMDelete.IsNever() {
		return errBadCredential
	}
	return err
}

// hashToken is the stored form of an access key: a lookup needs no
// comparison of secrets, and a stolen database yields no usable keys.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Service) hashPassword(password string) (string, error) {
	if len(password) < 8 || len(password) > 72 {
		return "", convo.Invalid("INVALID_PASSWORD", "password must be 8 to 72 bytes long")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.config.PasswordCost)
	return string(h), err
}

// Me is the caller as GET /me shows it: the agent, or for an access key an
// agent-shaped view of the customer's identity.
type Me struct {
	*convo.Agent
	AccessKeyID string `json:"accesskey_id,omitempty"`
}

// Me returns the caller.
func (s *Service) Me(ctx context.Context, c *convo.Caller) (*Me, error) {
	var me *Me
	err := s.store.View(ctx, func(tx convo.Tx) error {
		if c.AccessKeyID == "" {
			a, err := tx.GetAgent(ctx, c.AgentID)
			me = &Me{Agent: a}
			return err
		}
		cust, err := tx.GetCustomer(ctx, c.CustomerID)
		if err != nil {
			return err
		}
		key, err := tx.GetAccessKey(ctx, c.AccessKeyID)
		if err != nil {
			return err
		}
		me = &Me{AccessKeyID: key.ID, Agent: &convo.Agent{
			ID: convo.NilID, CustomerID: cust.ID, Name: cust.Name, Detail: "access key " + key.Name, RingMethod: "ringall",
			Permission: c.Permission, TagIDs: []string{}, Addresses: []convo.Address{},
			TMCreate: key.TMCreate, TMUpdate: key.TMUpdate, TMDelete: key.TMDelete,
		}}
		return nil
	})
	return me, err
}

// expiry converts an access key lifetime in seconds (0: never) to its expiry.
func (s *Service) expiry(seconds int64) (convo.Time, error) {
	if seconds < 0 {
		return convo.Time{}, convo.Invalid("INVALID_EXPIRE", "expire must be a number of seconds, 0 for never")
	}
	if seconds == 0 || seconds > 100*365*24*3600 {
		return convo.Never, nil
	}
	return convo.NewTime(s.clock.Now().Add(time.Duration(seconds) * time.Second)), nil
}
