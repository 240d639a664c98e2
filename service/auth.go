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

// Password guessing is throttled per username and per client address: after
// loginFailureLimit failures, each within loginFailureWindow of the last,
// attempts are refused without checking the password, for a time that
// doubles with each further failure.
const (
	loginFailureLimit  = 5
	loginFailureWindow = 15 * time.Minute
	loginBlockFirst    = 30 * time.Second
	loginBlockMax      = 15 * time.Minute
)

// loginBlock is how long logins are refused after failures failures.
func loginBlock(failures int) time.Duration {
	d := loginBlockFirst
	for i := loginFailureLimit; i < failures && d < loginBlockMax; i++ {
		d *= 2
	}
	return min(d, loginBlockMax)
}

// loginKeys are the throttle keys of an attempt: the username (hashed, so
// that any input has a bounded key and the table holds no names) and the
// client address.
func loginKeys(username, address string) (user, addr string) {
	sum := sha256.Sum256([]byte(username))
	user = "user:" + hex.EncodeToString(sum[:16])
	if address != "" {
		addr = "addr:" + address
	}
	return user, addr
}

// loginClaims are the claims of a login token: Version must equal the
// agent's token version, so raising it ends every earlier token.
type loginClaims struct {
	jwt.RegisteredClaims
	Version int64 `json:"ver"`
}

// Login checks an agent's password and issues a signed token. address is
// the client's, for throttling and the audit log.
func (s *Service) Login(ctx context.Context, username, password, address string) (*LoginResult, error) {
	username = strings.TrimSpace(username)
	userKey, addrKey := loginKeys(username, address)
	keys := []string{userKey}
	if addrKey != "" {
		keys = append(keys, addrKey)
	}
	now := s.now()
	var agent *convo.Agent
	var blockedUntil convo.Time
	err := s.store.View(ctx, func(tx convo.Tx) error {
		throttles, err := tx.GetLoginThrottles(ctx, keys)
		if err != nil {
			return err
		}
		for _, l := range throttles {
			if l.BlockedUntil.After(now.Time) && l.BlockedUntil.After(blockedUntil.Time) {
				blockedUntil = l.BlockedUntil
			}
		}
		if !blockedUntil.IsZero() {
			return nil
		}
		if agent, err = tx.GetAgentByUsername(ctx, username); err != nil {
			return err
		}
		if err := s.customerLive(ctx, tx, agent.CustomerID); err == errBadCredential {
			agent = nil
		} else if err != nil {
			return err
		}
		return nil
	})
	if convo.ErrorStatus(err) == convo.ENotFound {
		err = nil
	} else if err != nil {
		return nil, err
	}
	if !blockedUntil.IsZero() {
		// Refused before bcrypt: a guess costs the guesser, not our CPU.
		wait := blockedUntil.Sub(now.Time)
		return nil, &convo.Error{Status: convo.EExhausted, Reason: "TOO_MANY_LOGIN_ATTEMPTS", RetryAfter: wait,
			Message: "too many failed logins; try again later"}
	}
	if agent == nil {
		s.checkPassword(s.dummyHash, []byte(password))
	} else if s.checkPassword([]byte(agent.PasswordHash), []byte(password)) == nil {
		return s.issueToken(ctx, agent, userKey, address)
	}
	err = s.store.Update(ctx, func(tx convo.Tx) error {
		for _, key := range keys {
			l, err := tx.CountLoginFailure(ctx, key, now, convo.NewTime(now.Add(-loginFailureWindow)))
			if err != nil {
				return err
			}
			if l.Failures >= loginFailureLimit {
				if err := tx.BlockLogins(ctx, key, convo.NewTime(now.Add(loginBlock(l.Failures)))); err != nil {
					return err
				}
			}
		}
		if agent == nil {
			return nil
		}
		return s.audit(ctx, tx, agentCaller(agent, address), convo.AuditLoginFailed, convo.ResourceAgent, agent.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	return nil, errBadLogin
}

// issueToken records a successful login, which forgets the username's
// failures, and signs a token of the agent's current version.
func (s *Service) issueToken(ctx context.Context, agent *convo.Agent, userKey, address string) (*LoginResult, error) {
	err := s.store.Update(ctx, func(tx convo.Tx) error {
		if err := tx.ClearLoginThrottle(ctx, userKey); err != nil {
			return err
		}
		return s.audit(ctx, tx, agentCaller(agent, address), convo.AuditLogin, convo.ResourceAgent, agent.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, loginClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   agent.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.config.TokenTTL)),
			Issuer:    "convo",
		},
		Version: agent.TokenVersion,
	}).SignedString(s.jwtKey)
	if err != nil {
		return nil, err
	}
	return &LoginResult{Username: agent.Username, Token: token}, nil
}

// Logout ends the caller's login token, and with it every other token of
// the agent issued before.
func (s *Service) Logout(ctx context.Context, c *convo.Caller) error {
	if c.AccessKeyID != "" {
		return convo.Invalid("NOT_A_LOGIN", "an access key is not a login; delete the key to revoke it")
	}
	_, err := s.changeAgent(ctx, c, c.AgentID, func(tx convo.Tx, a *convo.Agent) error {
		a.TokenVersion++
		return s.audit(ctx, tx, c, convo.AuditLogout, convo.ResourceAgent, a.ID, nil)
	})
	return err
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
	var claims loginClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.jwtKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer("convo"),
		jwt.WithTimeFunc(s.clock.Now),
		jwt.WithExpirationRequired())
	if err != nil {
		return nil, errBadCredential
	}
	var caller *convo.Caller
	// The version is checked on the agent's row, which every request reads
	// anyway: revocation costs no extra round trip.
	err = s.store.View(ctx, func(tx convo.Tx) error {
		agent, err := tx.GetAgent(ctx, claims.Subject)
		if err != nil {
			return err
		}
		if !agent.TMDelete.IsNever() || agent.TokenVersion != claims.Version {
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
